/**
 * Reports from a real Node-RED process with known traffic: 40 people enter a promo journey
 * (split A/B, an email from the outbox, then a wait), 10 of them buy (the goal). The admin
 * API must give exactly the figures the traffic implies, as JSON and CSV, and the Journeys
 * sidebar in Chromium must show them; a click on a funnel row selects its node.
 */
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { BranchRow, ChannelRow, FunnelRow, JourneyReport, JourneySummary } from '../../lib/index.js';
import { nodeRedPackage, sleep } from '../support/node-red.js';
import { startNodeRed, type RunningNodeRed } from '../support/runtime.js';

const root = resolve(__dirname, '../../..');
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const z = 'rp-tab';
const PEOPLE = 40;

const FLOW = [
  { id: z, type: 'tab', label: 'Promo' },
  { id: 'rp-store', type: 'journey-store', backend: 'embedded', directory: 'journeys-store' },
  { id: 'rp-http', type: 'http in', z, x: 120, y: 100, url: '/promo/events', method: 'post', wires: [['rp-in']] },
  { id: 'rp-in', type: 'event-in', z, x: 300, y: 100, name: 'promo entry', store: 'rp-store', property: 'payload', journey: 'promo', trigger: 'promo_start', reentry: 'once', goalEvents: 'purchase', attributionDays: 7, wires: [['rp-split'], ['rp-reply']] },
  { id: 'rp-split', type: 'journey-split', z, x: 480, y: 100, name: 'offer test', store: 'rp-store', mode: 'stable', branches: [{ name: 'A', weight: 50 }, { name: 'B', weight: 50 }], holdout: 0, outputs: 2, wires: [['rp-mail'], ['rp-mail']] },
  { id: 'rp-mail', type: 'send-email', z, x: 660, y: 100, name: 'offer email', store: 'rp-store', account: '', subject: 'An offer for {{ profile.traits.firstName }}', html: '<p>Hi</p>', text: 'Hi', consent: 'opt-out', trackOpens: true, trackClicks: true, unsubscribe: true, wires: [['rp-wait', 'rp-reply'], ['rp-reply']] },
  { id: 'rp-wait', type: 'wait', z, x: 840, y: 60, name: 'a day', store: 'rp-store', mode: 'duration', amount: 1, unit: 'days', wires: [[], []] },
  { id: 'rp-reply', type: 'change', z, x: 860, y: 160, rules: [{ t: 'set', p: 'payload', pt: 'msg', to: '{"profileId": profileId, "variant": journey.variant, "error": error.code}', tot: 'jsonata' }], wires: [['rp-res']] },
  { id: 'rp-res', type: 'http response', z, x: 1040, y: 160, wires: [] },
];

describe(`journey reports (real ${nodeRedPackage} process: admin API and the Journeys sidebar in Chromium)`, function () {
  this.timeout(180_000);
  let userDir = '';
  let red: RunningNodeRed | undefined;
  let browser: Browser | undefined;
  const variants = new Map<string, string>();
  const buyers: string[] = [];

  before(async () => {
    if (!existsSync(chromiumPath)) throw new Error(`no Chromium at ${chromiumPath}: install Debian's chromium package or set CHROMIUM.`);
    userDir = await mkdtemp(join(tmpdir(), 'journeys-reports-'));
    await writeFile(join(userDir, 'flows.json'), JSON.stringify(FLOW));
    red = await startNodeRed(userDir);
    for (let i = 0; i < PEOPLE; i++) {
      const answer = await red.request('POST', '/promo/events', { name: 'promo_start', identities: { email: `p${i}@example.com` }, traits: { firstName: `P${i}` }, messageId: `start-${i}` });
      expect(answer.status, answer.text).to.equal(200);
      const { variant } = answer.json as { variant: string };
      variants.set(`p${i}`, variant);
    }
    // Every fourth person buys: 10 buyers.
    for (let i = 0; i < PEOPLE; i += 4) {
      const answer = await red.request('POST', '/promo/events', { name: 'purchase', identities: { email: `p${i}@example.com` }, messageId: `buy-${i}` });
      expect((answer.json as { error?: string }).error).to.equal('NOT_A_TRIGGER');
      buyers.push(`p${i}`);
    }
    await sleep(500);
  });
  after(async () => {
    await browser?.close();
    await red?.stop();
    if (userDir) await rm(userDir, { recursive: true, force: true });
  });

  const count = (variant: string, onlyBuyers = false) => [...variants].filter(([who, v]) => v === variant && (!onlyBuyers || buyers.includes(who))).length;

  it('lists every journey with its counts by status', async () => {
    const answer = await red!.request('GET', '/journeys/reports');
    expect(answer.status, answer.text).to.equal(200);
    const body = answer.json as { store: string; stores: Array<{ id: string }>; journeys: JourneySummary[] };
    expect(body.store).to.equal('rp-store');
    expect(body.journeys).to.deep.equal([
      { journey: 'promo', entered: PEOPLE, active: 0, waiting: PEOPLE - buyers.length, completed: 0, exited: 0, converted: buyers.length, conversionRate: buyers.length / PEOPLE },
    ]);
    const csv = await red!.request('GET', '/journeys/reports?format=csv');
    expect(csv.text.split('\r\n')).to.deep.equal([
      'journey,entered,active,waiting,completed,exited,converted,conversionRate',
      `promo,${PEOPLE},0,${PEOPLE - buyers.length},0,0,${buyers.length},0.25`,
      '',
    ]);
    expect((await red!.request('GET', '/journeys/reports?store=nope')).status).to.equal(404);
  });

  it("gives one journey's funnel, channel, branches with their test, and timeline, exactly", async () => {
    const answer = await red!.request('GET', '/journeys/reports/promo');
    const report = answer.json as JourneyReport;
    const funnel = (node: string) => report.funnel.find((f: FunnelRow) => f.node === node);
    expect(funnel('rp-split')).to.deep.include({ reached: PEOPLE });
    expect(funnel('rp-mail')).to.deep.equal({ node: 'rp-mail', reached: PEOPLE, here: PEOPLE - buyers.length, endedHere: { completed: 0, exited: 0, converted: buyers.length } });
    expect(report.channels).to.deep.equal([
      { channel: 'email', node: 'rp-mail', sent: PEOPLE, skipped: 0, failed: 0, queued: 0, reasons: {}, opened: 0, clicked: 0, conversions: buyers.length },
    ] satisfies ChannelRow[]);
    const branches = report.branches;
    expect(branches.map((b: BranchRow) => [b.split, b.variant, b.instances, b.converted])).to.deep.equal([
      ['rp-split', 'A', count('A'), count('A', true)],
      ['rp-split', 'B', count('B'), count('B', true)],
    ]);
    expect(branches[0]!.vsControl).to.equal(null); // A, the first branch, is the control without a holdout
    expect(branches[1]!.vsControl).to.include({ control: 'A' });
    expect(branches[1]!.interval.low).to.be.at.most(branches[1]!.rate);
    expect(report.timeline).to.have.length(30);
    const today = report.timeline[report.timeline.length - 1]!;
    expect(today).to.deep.equal({ day: new Date().toISOString().slice(0, 10), entered: PEOPLE, converted: buyers.length });

    const csv = await red!.request('GET', '/journeys/reports/promo?format=csv&days=7');
    expect(csv.text).to.contain(`journey,promo,entered,${PEOPLE}\r\n`);
    expect(csv.text).to.contain(`channel,email:rp-mail,conversions,${buyers.length}\r\n`);
    expect(csv.text).to.contain(`branch,rp-split:A,instances,${count('A')}\r\n`);
    expect(csv.text.split('\r\n').filter((l) => l.startsWith('timeline,'))).to.have.length(14);
  });

  it('shows the same figures in the Journeys sidebar, and selects a node from its funnel row', async () => {
    browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
    const page: Page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    await page.goto(`${red!.url}/`);
    await page.waitForFunction(() => !!((window as any).RED?.sidebar?.containsTab?.('journeys') && (window as any).RED.nodes.node('rp-mail')), undefined, { timeout: 60_000 });
    await page.evaluate(() => (window as any).RED.sidebar.show('journeys'));
    const row = page.locator('.journeys-list tr[data-journey="promo"]');
    await row.waitFor({ timeout: 15_000 });
    const cells = await row.locator('td').allTextContents();
    expect(cells).to.deep.equal(['promo', String(PEOPLE), '0', String(PEOPLE - buyers.length), '0', '0', String(buyers.length), '25%']);

    await row.click();
    const mailRow = page.locator('.journeys-funnel tr[data-node="rp-mail"]');
    await mailRow.waitFor({ timeout: 15_000 });
    expect(await mailRow.locator('td').allTextContents()).to.deep.equal(['offer email', String(PEOPLE), String(PEOPLE - buyers.length), '0', '0', String(buyers.length)]);
    expect(await page.locator('.journeys-channels tr[data-node="rp-mail"] td').allTextContents()).to.deep.equal([
      'email: offer email',
      String(PEOPLE),
      '0',
      '0',
      '0',
      '0',
      String(buyers.length),
    ]);
    expect(await page.locator('.journeys-branches tr[data-variant="B"] td').nth(1).textContent()).to.equal(String(count('B')));
    await page.locator('svg.journeys-timeline').waitFor();

    await mailRow.click();
    const selected = await page.evaluate(() => (window as any).RED.view.selection().nodes?.map((n: { id: string }) => n.id));
    expect(selected).to.deep.equal(['rp-mail']);
    await mkdir(join(root, 'test-artifacts'), { recursive: true });
    await page.screenshot({ path: join(root, 'test-artifacts/journeys-sidebar.png') });
    expect(errors).to.deep.equal([]);
  });
});
