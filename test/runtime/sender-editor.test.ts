/**
 * The send-email dialog in a real editor: a real Node-RED process and Debian's Chromium
 * driven by playwright-core. Checks that the shared sender rows (from the journeys-editor
 * plugin, loaded before the nodes) appear with the node's values and are saved, and that
 * Preview renders the dialog's templates through the runtime, or shows where one fails;
 * and the email account's Connections field.
 */
import { expect } from 'chai';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../support/chromium.js';
import { nodeRedPackage } from '../support/node-red.js';
import { nodeRedSuite, type RunningNodeRed } from '../support/runtime.js';

const root = resolve(__dirname, '../../..');

const FLOW = [
  { id: 'tab1', type: 'tab', label: 'Senders' },
  { id: 'store1', type: 'journey-store', name: '', backend: 'embedded', directory: 'journeys-store', database: 'journeys' },
];

describe(`the send-email dialog (real ${nodeRedPackage} process, Chromium)`, function () {
  this.timeout(180_000);
  const suite = nodeRedSuite('sender-editor');
  let red: RunningNodeRed | undefined;
  let browser: Browser | undefined;
  let page: Page;
  const pageErrors: string[] = [];

  before(async function () {
    await writeFile(join(suite.userDir, 'flows.json'), JSON.stringify(FLOW));
    red = await suite.start();
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1600, height: 1200 } });
    page.on('pageerror', (err) => pageErrors.push(err.message));
    // Node-RED catches a dialog's oneditprepare errors and logs them to the console.
    page.on('console', (m) => {
      // (The editor also asks the internet for things, which this machine cannot reach: not our errors.)
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) pageErrors.push(m.text());
    });
    await page.goto(`${red.url}/`);
    await page.waitForFunction(
      () => {
        const RED = (window as any).RED;
        return !!(RED && RED.nodes && RED.nodes.getType('send-email') && RED.nodes.node('store1') && RED.workspaces.active());
      },
      undefined,
      { timeout: 60_000 },
    );
  });

  after(async () => {
    await browser?.close();
  });

  /** Adds a node as the palette would (every default filled in, then `props`) and opens its dialog. */
  async function addAndEdit(props: { id: string; type: string } & Record<string, unknown>): Promise<void> {
    await page.evaluate((props) => {
      const RED = (window as any).RED;
      const type = RED.nodes.getType(props.type);
      const values: Record<string, unknown> = {};
      for (const key of Object.keys(type.defaults)) values[key] = type.defaults[key].value;
      const config = type.category === 'config';
      const placed = config ? {} : { x: 300, y: 120, z: RED.workspaces.active(), store: 'store1', wires: [[], []] };
      RED.view.importNodes([{ ...values, ...placed, ...props }], { generateIds: false, touchImport: !config, notify: false });
      if (config) RED.editor.editConfig('', props.type, props.id);
      else RED.editor.edit(RED.nodes.node(props.id));
    }, props);
  }

  it('adds a node with the shared defaults, shows and saves the consent, cap and quiet-hours rows', async () => {
    const defaults = await page.evaluate(() => {
      const RED = (window as any).RED;
      const d = RED.nodes.getType('send-email').defaults;
      return { consent: d.consent?.value, cap: d.cap?.value, quietStart: d.quietStart?.value, quietEnd: d.quietEnd?.value };
    });
    expect(defaults).to.deep.equal({ consent: 'opt-in', cap: false, quietStart: '21:00', quietEnd: '08:00' });

    await addAndEdit({ id: 'mail1', type: 'send-email' });
    await page.locator('#node-dialog-ok').waitFor({ state: 'visible' });
    const dialog = await page.evaluate(() => ({ editor: !!(window as any).JourneysEditor, html: document.querySelector('#journeys-sender-policy')?.outerHTML ?? 'none' }));
    expect(dialog.editor, JSON.stringify(dialog)).to.equal(true);
    expect(dialog.html, JSON.stringify(dialog)).to.contain("node-input-consent");
    await page.locator('#node-input-consent').waitFor({ state: 'visible' });
    expect(await page.locator('#node-input-capMax').isVisible()).to.equal(false); // shown once the cap is ticked
    await page.locator('#node-input-consent').selectOption('opt-out');
    await page.locator('#node-input-cap').check();
    await page.locator('#node-input-capMax').fill('2');
    await page.locator('#node-input-capPeriod').fill('3');
    await page.locator('#node-input-capUnit').selectOption('hours');
    await page.locator('#node-input-quiet').check();
    await page.locator('#node-input-quietStart').fill('22:00');
    await page.locator('#node-input-quietEnd').fill('07:30');
    await page.locator('#node-input-defaultZone').fill('Europe/Berlin');
    await page.locator('#node-input-subject').fill('Hi {{ profile.traits.firstName }} on {{ profile.traits.plan }}');

    // Preview renders the dialog's templates through the runtime for the sample profile (Ada, plan pro).
    await page.locator('#journeys-preview-run').click();
    await page.locator('.journeys-preview-field[data-field="subject"]').getByText('Hi Ada on pro').waitFor({ timeout: 10_000 });
    await mkdir(join(root, 'test-artifacts'), { recursive: true });
    await page.screenshot({ path: join(root, 'test-artifacts/send-email-editor.png') });

    // A broken template: the preview names the field and the line.
    await page.locator('#node-input-subject').fill('Hi {{ profile.traits.firstName() }}');
    await page.locator('#journeys-preview-run').click();
    await page.locator('.journeys-preview-error').getByText(/^subject(, line \d+)?: Unable to call/).waitFor({ timeout: 10_000 });
    await page.locator('#node-input-subject').fill('Hi {{ profile.traits.firstName }}');

    await page.locator('#node-dialog-ok').click();
    await page.locator('#node-input-consent').waitFor({ state: 'detached' });
    const saved = await page.evaluate(() => {
      const n = (window as any).RED.nodes.node('mail1');
      return { consent: n.consent, cap: n.cap, capMax: n.capMax, capPeriod: n.capPeriod, capUnit: n.capUnit, quiet: n.quiet, quietStart: n.quietStart, quietEnd: n.quietEnd, defaultZone: n.defaultZone, subject: n.subject, valid: n.valid };
    });
    expect(saved).to.deep.equal({
      consent: 'opt-out',
      cap: true,
      capMax: '2',
      capPeriod: '3',
      capUnit: 'hours',
      quiet: true,
      quietStart: '22:00',
      quietEnd: '07:30',
      defaultZone: 'Europe/Berlin',
      subject: 'Hi {{ profile.traits.firstName }}',
      valid: true,
    });
    expect(pageErrors).to.deep.equal([]);
  });

  it("shows the email account's Connections, 5 unless set, refuses one outside 1 to 50 and saves the one typed", async () => {
    await addAndEdit({ id: 'smtp1', type: 'email-account', host: 'smtp.example.com', from: 'news@example.com' });
    const field = page.locator('#node-config-input-connections');
    await field.waitFor({ state: 'visible' });
    expect(await field.inputValue()).to.equal('5');
    expect(await page.locator('label[for="node-config-input-connections"]').textContent()).to.contain('Connections');
    await field.fill('0');
    await field.dispatchEvent('change');
    await page.waitForFunction(() => document.querySelector('#node-config-input-connections')?.classList.contains('input-error'), undefined, { timeout: 5_000 });
    await field.fill('12');
    await field.dispatchEvent('change');
    await page.locator('#node-config-dialog-ok').click();
    await field.waitFor({ state: 'detached' });
    const saved = await page.evaluate(() => {
      const n = (window as any).RED.nodes.node('smtp1');
      return { connections: n.connections, valid: n.valid };
    });
    expect(saved).to.deep.equal({ connections: '12', valid: true });
    expect(pageErrors).to.deep.equal([]);
  });

  it('gives send-sms the same shared rows, and previews its body with the segment count beside it', async () => {
    await addAndEdit({ id: 'sms1', type: 'send-sms', y: 220 });
    await page.locator('#node-input-consent').waitFor({ state: 'visible' });
    expect(await page.locator('#node-input-consent').inputValue()).to.equal('opt-in');
    await page.locator('#node-input-body').fill('Hi {{ profile.traits.firstName }}, 20% off today. STOP to opt out');
    expect(await page.locator('#node-input-body-count').textContent()).to.match(/^\d+ characters, 1 SMS segment/);
    await page.locator('#journeys-preview-run').click();
    await page.locator('.journeys-preview-field[data-field="body"]').getByText('Hi Ada, 20% off today. STOP to opt out').waitFor({ timeout: 10_000 });
    await page.locator('#node-input-quiet').check();
    await page.locator('#node-input-quietStart').fill('25:00');
    await page.locator('#node-dialog-ok').click();
    await page.locator('#node-input-consent').waitFor({ state: 'detached' });
    const saved = await page.evaluate(() => {
      const n = (window as any).RED.nodes.node('sms1');
      return { quiet: n.quiet, quietStart: n.quietStart, valid: n.valid, body: n.body };
    });
    // A bad time is kept but marks the node invalid, as Node-RED does for any failing validator.
    expect(saved).to.deep.include({ quiet: true, quietStart: '25:00', valid: false });
    expect(pageErrors).to.deep.equal([]);
  });

  it('gives send-push the same shared rows, and previews title, body and link', async () => {
    await addAndEdit({ id: 'push1', type: 'send-push', y: 320 });
    await page.locator('#node-input-cap').waitFor({ state: 'visible' });
    await page.locator('#node-input-title').fill('{{ profile.traits.firstName }}, your cart');
    await page.locator('#node-input-body').fill('Still thinking about the {{ profile.traits.plan }} plan?');
    await page.locator('#node-input-link').fill('https://shop.example.com/cart');
    await page.locator('#journeys-preview-run').click();
    await page.locator('.journeys-preview-field[data-field="title"]').getByText('Ada, your cart').waitFor({ timeout: 10_000 });
    expect(await page.locator('.journeys-preview-field[data-field="body"]').textContent()).to.equal('Still thinking about the pro plan?');
    await page.locator('#node-input-cap').check();
    await page.locator('#node-input-capMax').fill('1');
    await page.locator('#node-dialog-ok').click();
    await page.locator('#node-input-cap').waitFor({ state: 'detached' });
    const saved = await page.evaluate(() => {
      const n = (window as any).RED.nodes.node('push1');
      return { cap: n.cap, capMax: n.capMax, title: n.title, valid: n.valid };
    });
    expect(saved).to.deep.equal({ cap: true, capMax: '1', title: '{{ profile.traits.firstName }}, your cart', valid: true });
    expect(pageErrors).to.deep.equal([]);
  });
});
