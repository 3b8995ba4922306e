/**
 * The segment node's rule builder, and the journey-entry rows it shares with event-in, in a
 * real editor: a real Node-RED process (started as `npm start` starts it) and Debian's
 * Chromium driven by playwright-core. Builds a nested rule set through the dialog, checks
 * what the node saves, and that reopening the dialog rebuilds the same rows. Needs the
 * package's segment runtime (nodes/segment/segment.ts) for the editor endpoints
 * journeys/segment/check and journeys/segment/count.
 */
import { expect } from 'chai';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import { launchChromium } from '../support/chromium.js';
import { nodeRedPackage } from '../support/node-red.js';
import { nodeRedSuite, type RunningNodeRed } from '../support/runtime.js';

const root = resolve(__dirname, '../../..');

/** What the dialog is driven to build below. */
const EXPECTED = {
  match: 'all',
  rules: [
    { kind: 'trait', field: 'plan', op: 'eq', value: 'pro' },
    { kind: 'event', event: 'cart_add', op: 'atLeast', count: 2, days: 7 },
    {
      match: 'any',
      rules: [
        { kind: 'trait', field: 'country', op: 'in', value: ['DE', 'FR'] },
        { kind: 'consent', channel: 'email', granted: true },
        {
          match: 'all',
          rules: [
            { kind: 'seen', which: 'last', op: 'withinLastDays', days: 30 },
            { kind: 'trait', field: 'ltv', op: 'between', value: 100, value2: 500 },
          ],
        },
      ],
    },
    { kind: 'trait', field: 'score', op: 'in', value: [1, 2, 3] },
  ],
};

/** A node written by hand, with a rule the builder does not know: shown as JSON, saved unchanged. */
const HAND_MADE = { match: 'all', rules: [{ kind: 'trait', field: 'plan', op: 'eq', value: 'pro' }, { kind: 'mood', is: 'happy' }] };

const FLOW = [
  { id: 'tab1', type: 'tab', label: 'Segments' },
  { id: 'store1', type: 'journey-store', name: '', backend: 'embedded', directory: 'journeys-store', database: 'journeys' },
];

function segmentNode(id: string, y: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id,
    type: 'segment',
    x: 300,
    y,
    name: '',
    store: 'store1',
    mode: 'profile',
    rules: { match: 'all', rules: [] },
    journey: '',
    reentry: 'oneActive',
    reentryPeriod: 30,
    reentryUnit: 'days',
    exitEvents: '',
    goalEvents: '',
    rate: 0,
    outputs: 2,
    wires: [[], []],
    ...extra,
  };
}

describe(`the segment node's rule builder (real ${nodeRedPackage} process, Chromium)`, function () {
  this.timeout(180_000);
  const suite = nodeRedSuite('segment-editor');
  let red: RunningNodeRed | undefined;
  let browser: Browser | undefined;
  let page: Page;
  const pageErrors: string[] = [];

  before(async function () {
    await writeFile(join(suite.userDir, 'flows.json'), JSON.stringify(FLOW));
    red = await suite.start();
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1600, height: 1100 } });
    page.on('pageerror', (err) => pageErrors.push(err.message));
    await page.goto(`${red.url}/`);
    await page.waitForFunction(
      () => {
        const RED = (window as any).RED;
        return !!(RED && RED.nodes && RED.nodes.getType('segment') && RED.nodes.node('store1') && RED.workspaces.active());
      },
      undefined,
      { timeout: 60_000 },
    );
  });

  after(async () => {
    await browser?.close();
  });

  /** Imports segment nodes onto the open tab, placed where they say (no dragging). */
  async function importNodes(nodes: Array<Record<string, unknown>>): Promise<void> {
    await page.evaluate((list) => {
      const RED = (window as any).RED;
      const z = RED.workspaces.active();
      RED.view.importNodes(
        list.map((n) => ({ ...n, z })),
        { generateIds: false, touchImport: true, notify: false },
      );
    }, nodes);
  }

  /** `marker`: an element only this node's dialog has. */
  async function openEditor(id: string, marker = '#node-input-segment-rules'): Promise<void> {
    await page.evaluate((nodeId) => {
      const RED = (window as any).RED;
      RED.editor.edit(RED.nodes.node(nodeId));
    }, id);
    await page.locator(marker).waitFor({ state: 'attached' });
    await page.locator('#node-dialog-ok').waitFor({ state: 'visible' });
  }

  async function done(marker = '#node-input-segment-rules'): Promise<void> {
    await page.locator('#node-dialog-ok').click();
    await page.locator(marker).waitFor({ state: 'detached' });
  }

  const saved = (id: string) => page.evaluate((nodeId) => JSON.parse(JSON.stringify((window as any).RED.nodes.node(nodeId))), id);

  // The list of the outermost group, and the list inside a group row.
  const rootList = () => page.locator('.segment-list-depth-1');
  const listIn = (groupRow: Locator) => groupRow.locator(':scope > .red-ui-editableList');
  const rows = (list: Locator) => list.locator(':scope > .red-ui-editableList-container > ol > li > .red-ui-editableList-item-content');
  const addRule = (list: Locator) => list.locator(':scope > button.red-ui-editableList-addButton').nth(0).click();
  const addGroup = (list: Locator) => list.locator(':scope > button.red-ui-editableList-addButton').nth(1).click();
  /** The text box of a row's n-th typedInput. */
  const typed = (row: Locator, n = 0) => row.locator('.red-ui-typedInput-container').nth(n).locator('input.red-ui-typedInput-input');
  async function chooseType(row: Locator, type: string, n = 0): Promise<void> {
    await row.locator('.red-ui-typedInput-container').nth(n).locator('button.red-ui-typedInput-type-select').click();
    await page.locator(`.red-ui-typedInput-options a[value="${type}"]:visible`).click();
  }

  it('builds nested rules through the dialog, describes them live and saves them as the rule object', async () => {
    await importNodes([segmentNode('seg1', 120)]);
    await openEditor('seg1');
    const list = rootList();

    // 1: plan = "pro". An empty field first: the runtime's check names the incomplete rule.
    await addRule(list);
    const plan = rows(list).nth(0);
    expect(await plan.locator('select.segment-kind').inputValue()).to.equal('trait');
    await page.locator('#node-input-segment-problem').getByText('segment.rules[0]').waitFor({ timeout: 10_000 });
    await plan.locator('input.segment-field').fill('plan');
    await plan.locator('select.segment-op').selectOption('eq');
    await typed(plan).fill('pro');

    // 2: did cart_add at least 2 times in the last 7 days.
    await addRule(list);
    const cart = rows(list).nth(1);
    await cart.locator('select.segment-kind').selectOption('event');
    await cart.locator('input.segment-event').fill('cart_add');
    await cart.locator('select.segment-op').selectOption('atLeast');
    await cart.locator('input.segment-count').fill('2');
    await cart.locator('input.segment-days').fill('7');

    // 3: a group, ANY of: country in DE, FR; email consent granted; a group, ALL of: last seen in 30 days; ltv between 100 and 500.
    await addGroup(list);
    const group = rows(list).nth(2);
    await group.locator(':scope > .segment-group-head select.segment-match').selectOption('any');
    const inner = listIn(group);
    await addRule(inner);
    const country = rows(inner).nth(0);
    await country.locator('input.segment-field').fill('country');
    await country.locator('select.segment-op').selectOption('in');
    await typed(country).fill('DE, FR');
    await addRule(inner);
    const consent = rows(inner).nth(1);
    await consent.locator('select.segment-kind').selectOption('consent');
    await consent.locator('select.segment-granted').selectOption('true');
    await addGroup(inner);
    const nested = rows(inner).nth(2);
    await nested.locator(':scope > .segment-group-head select.segment-match').selectOption('all');
    const deepest = listIn(nested);
    await addRule(deepest);
    const seen = rows(deepest).nth(0);
    await seen.locator('select.segment-kind').selectOption('seen');
    await seen.locator('select.segment-which').selectOption('last');
    await seen.locator('select.segment-op').selectOption('withinLastDays');
    await seen.locator('input.segment-days').fill('30');
    await addRule(deepest);
    const ltv = rows(deepest).nth(1);
    await ltv.locator('input.segment-field').fill('ltv');
    await ltv.locator('select.segment-op').selectOption('between');
    await typed(ltv, 0).fill('100');
    await typed(ltv, 1).fill('500');

    // 4: score in 1, 2, 3, as numbers: the list's type chosen from the typedInput menu.
    await addRule(list);
    const score = rows(list).nth(3);
    await score.locator('input.segment-field').fill('score');
    await score.locator('select.segment-op').selectOption('in');
    await chooseType(score, 'numlist');
    await typed(score).fill('1, 2, 3');

    // The runtime's description of the rules, and no error left.
    await page
      .locator('#node-input-segment-description')
      .getByText('plan = "pro" AND did cart_add ≥2× in 7d AND (country in ["DE", "FR"] OR email consent granted')
      .waitFor({ timeout: 10_000 });
    expect(await page.locator('#node-input-segment-problem').isVisible()).to.equal(false);

    await page.locator('#node-input-segment-count').click();
    await page.locator('#node-input-segment-count-result').getByText('0 profiles match now').waitFor({ timeout: 10_000 });

    await done();
    const node = await saved('seg1');
    expect(node.rules).to.deep.equal(EXPECTED);
    expect(node.outputs).to.equal(2);
    expect(node.mode).to.equal('profile');
    const label = await page.evaluate(() => (window as any).RED.utils.getNodeLabel((window as any).RED.nodes.node('seg1')));
    expect(label).to.match(/^segment: plan = "pro" AND did cart_add/);
    expect(pageErrors).to.deep.equal([]);
  });

  it('rebuilds the same rows when the dialog is opened again, and saves them unchanged', async () => {
    await openEditor('seg1');
    const list = rootList();
    await rows(list).nth(3).waitFor();
    expect(await rows(list).count()).to.equal(4);
    expect(await rows(list).nth(0).locator('input.segment-field').inputValue()).to.equal('plan');
    expect(await typed(rows(list).nth(0)).inputValue()).to.equal('pro');
    expect(await rows(list).nth(1).locator('select.segment-kind').inputValue()).to.equal('event');
    expect(await rows(list).nth(1).locator('input.segment-count').inputValue()).to.equal('2');
    const group = rows(list).nth(2);
    expect(await group.locator(':scope > .segment-group-head select.segment-match').inputValue()).to.equal('any');
    expect(await rows(listIn(group)).count()).to.equal(3);
    expect(await typed(rows(listIn(group)).nth(0)).inputValue()).to.equal('DE, FR');
    const nested = rows(listIn(group)).nth(2);
    expect(await rows(listIn(nested)).count()).to.equal(2);
    expect(await typed(rows(listIn(nested)).nth(1), 1).inputValue()).to.equal('500');
    await page.locator('#node-input-segment-description').getByText('plan = "pro"').waitFor({ timeout: 10_000 });

    await mkdir(join(root, 'test-artifacts'), { recursive: true });
    await page.screenshot({ path: join(root, 'test-artifacts/segment-editor.png') });

    await done();
    expect((await saved('seg1')).rules).to.deep.equal(EXPECTED);
    expect(pageErrors).to.deep.equal([]);
  });

  it('in audience mode asks for a journey, has three outputs and labels the node with the journey', async () => {
    await openEditor('seg1');
    await page.locator('#node-input-mode').selectOption('audience');
    await page.locator('#node-input-journey').fill('winback');
    await page.locator('#node-input-reentry').selectOption('once');
    await page.locator('#node-input-rate').fill('50');
    await done();
    const node = await saved('seg1');
    expect(node).to.include({ mode: 'audience', journey: 'winback', reentry: 'once', outputs: 3 });
    expect(Number(node.rate)).to.equal(50);
    expect(node.rules).to.deep.equal(EXPECTED);
    const label = await page.evaluate(() => (window as any).RED.utils.getNodeLabel((window as any).RED.nodes.node('seg1')));
    expect(label).to.equal('audience: winback');
    expect(pageErrors).to.deep.equal([]);
  });

  it('opens hand-made and missing rules without an error: unknown rules as JSON, kept as they are', async () => {
    await importNodes([segmentNode('seg2', 220, { rules: HAND_MADE }), segmentNode('seg3', 320, { rules: undefined }), segmentNode('seg4', 420, { rules: 'not json' })]);

    await openEditor('seg2');
    await page.locator('#node-input-segment-json').waitFor({ state: 'visible' });
    expect(JSON.parse(await page.locator('#node-input-segment-json').inputValue())).to.deep.equal(HAND_MADE);
    await page.locator('#node-input-segment-problem').getByText('unknown kind').waitFor({ timeout: 10_000 });
    await done();
    expect((await saved('seg2')).rules).to.deep.equal(HAND_MADE);

    await openEditor('seg3');
    expect(await rows(rootList()).count()).to.equal(0);
    await page.locator('#node-input-segment-description').getByText('everyone').waitFor({ timeout: 10_000 });
    await done();
    expect((await saved('seg3')).rules).to.deep.equal({ match: 'all', rules: [] });

    await openEditor('seg4');
    expect(await page.locator('#node-input-segment-json').inputValue()).to.equal('not json');
    await done();
    expect((await saved('seg4')).rules).to.equal('not json');
    expect(pageErrors).to.deep.equal([]);
  });

  it("gives event-in the same journey-entry rows: shown once a journey is named, the period only for once per period, names checked", async () => {
    await importNodes([{ id: 'in1', type: 'event-in', x: 300, y: 520, name: '', store: 'store1', property: 'payload', journey: '', wires: [[], []] }]);
    const marker = '#node-input-property';
    await openEditor('in1', marker);
    const reentry = page.locator('#node-input-reentry');
    const period = page.locator('#node-input-reentryPeriod');
    expect(await reentry.isVisible(), 're-entry before a journey is named').to.equal(false);
    await page.locator('#node-input-journey').fill('onboarding');
    await reentry.waitFor({ state: 'visible' });
    expect(await reentry.inputValue(), 'the default re-entry').to.equal('oneActive');
    expect(await page.locator('label[for="node-input-reentry"]').innerText(), 'the label, translated').to.contain('Re-entry');
    expect(await reentry.locator('option').allInnerTexts()).to.deep.equal(['only when not already in it', 'every time', 'once ever', 'once per period']);
    expect(await period.isVisible(), 'period for "only when not already in it"').to.equal(false);
    await reentry.selectOption('oncePer');
    await period.waitFor({ state: 'visible' });
    await period.fill('14');
    await page.locator('#node-input-reentryUnit').selectOption('hours');
    await page.locator('#node-input-exitEvents').fill('unsubscribed, $bad');
    await page.locator('#node-input-goalEvents').fill('purchase');
    await page.locator('#node-input-attributionDays').fill('3');
    await done(marker);
    const node = await saved('in1');
    expect(node).to.include({ journey: 'onboarding', reentry: 'oncePer', reentryUnit: 'hours', exitEvents: 'unsubscribed, $bad', goalEvents: 'purchase' });
    expect([Number(node.reentryPeriod), Number(node.attributionDays)]).to.deep.equal([14, 3]);
    // "$bad" is no event name the runtime accepts: the node is marked invalid, as core nodes are.
    expect(node.valid, 'valid with a bad exit event name').to.equal(false);

    await openEditor('in1', marker);
    expect(await page.locator('#node-input-exitEvents').inputValue(), 'the saved exit events, shown again').to.equal('unsubscribed, $bad');
    expect(await period.isVisible(), 'the period, shown again for once per period').to.equal(true);
    await page.locator('#node-input-exitEvents').fill('unsubscribed');
    await done(marker);
    expect((await saved('in1')).valid, 'valid once the names are').to.equal(true);
    expect(pageErrors).to.deep.equal([]);
  });
});
