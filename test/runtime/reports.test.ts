/**
 * Reports from a real Node-RED process running the example flow "A/B test of an offer" with
 * known traffic: 40 people enter the promo journey (split A/B, one email per branch from the
 * outbox, then a wait), 10 of them buy (the goal). The admin
 * API must give exactly the figures the traffic implies, as JSON and CSV, and the Journeys
 * sidebar in Chromium must show them; a click on a funnel row selects its node.
 */
import { expect } from 'chai';
import { copyFile, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, openJourneysSidebar } from '../support/chromium.js';
import type { BranchRow, ChannelRow, FunnelRow, JourneyReport, JourneySummary } from '../../lib/index.js';
import { nodeRedPackage, sleep } from '../support/node-red.js';
import { nodeRedSuite, type RunningNodeRed } from '../support/runtime.js';

const root = resolve(__dirname, '../../..');
const PEOPLE = 40;

describe(`journey reports (real ${nodeRedPackage} process: admin API and the Journeys sidebar in Chromium)`, function () {
  this.timeout(180_000);
  const suite = nodeRedSuite('reports');
  let red: RunningNodeRed | undefined;
  let browser: Browser | undefined;
  const variants = new Map<string, string>();
  const buyers: string[] = [];

  before(async () => {
    // The example as a user imports it from Import ▸ Examples.
    await copyFile(join(root, 'examples', 'A-B test of an offer.json'), join(suite.userDir, 'flows.json'));
    red = await suite.start();
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
  });

  const count = (variant: string, onlyBuyers = false) => [...variants].filter(([who, v]) => v === variant && (!onlyBuyers || buyers.includes(who))).length;

  it('lists every journey with its counts by status', async () => {
    const answer = await red!.request('GET', '/journeys/reports');
    expect(answer.status, answer.text).to.equal(200);
    const body = answer.json as { store: string; stores: Array<{ id: string }>; journeys: JourneySummary[] };
    expect(body.store).to.equal('ab0f1e2r3t4e5s6s');
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
    expect(funnel('ab-split')).to.deep.include({ reached: PEOPLE });
    for (const [node, variant] of [['ab-mail-a', 'A'], ['ab-mail-b', 'B']] as const) {
      const left = count(variant) - count(variant, true);
      expect(funnel(node)).to.deep.equal({ node, reached: count(variant), here: left, endedHere: { completed: 0, exited: 0, converted: count(variant, true) } });
    }
    expect(report.channels).to.deep.equal([
      { channel: 'email', node: 'ab-mail-a', sent: count('A'), skipped: 0, failed: 0, queued: 0, reasons: {}, opened: 0, clicked: 0, delivered: 0, undelivered: 0, conversions: count('A', true) },
      { channel: 'email', node: 'ab-mail-b', sent: count('B'), skipped: 0, failed: 0, queued: 0, reasons: {}, opened: 0, clicked: 0, delivered: 0, undelivered: 0, conversions: count('B', true) },
    ] satisfies ChannelRow[]);
    const branches = report.branches;
    expect(branches.map((b: BranchRow) => [b.split, b.variant, b.instances, b.converted])).to.deep.equal([
      ['ab-split', 'A', count('A'), count('A', true)],
      ['ab-split', 'B', count('B'), count('B', true)],
    ]);
    expect(branches[0]!.vsControl).to.equal(null); // A, the first branch, is the control without a holdout
    expect(branches[1]!.vsControl).to.include({ control: 'A' });
    expect(branches[1]!.interval.low).to.be.at.most(branches[1]!.rate);
    expect(report.timeline).to.have.length(30);
    const today = report.timeline[report.timeline.length - 1]!;
    expect(today).to.deep.equal({ day: new Date().toISOString().slice(0, 10), entered: PEOPLE, converted: buyers.length });

    const csv = await red!.request('GET', '/journeys/reports/promo?format=csv&days=7');
    expect(csv.text).to.contain(`journey,promo,entered,${PEOPLE}\r\n`);
    expect(csv.text).to.contain(`channel,email:ab-mail-b,conversions,${count('B', true)}\r\n`);
    expect(csv.text).to.contain(`branch,ab-split:A,instances,${count('A')}\r\n`);
    expect(csv.text.split('\r\n').filter((l) => l.startsWith('timeline,'))).to.have.length(14);
  });

  it('shows the same figures in the Journeys sidebar, and selects a node from its funnel row', async () => {
    browser = await launchChromium();
    const page: Page = await browser.newPage({ viewport: { width: 1700, height: 1500 } });
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    await openJourneysSidebar(page, red!.url, 'ab-mail-a');
    const row = page.locator('.journeys-list tr[data-journey="promo"]');
    await row.waitFor({ timeout: 15_000 });
    // Labels come from the plugin's catalog: a lookup that failed would show its key.
    expect(await page.locator('.journeys-list th').allTextContents()).to.deep.equal(['journey', 'entered', 'active', 'waiting', 'done', 'exited', 'conv.', 'rate']);
    expect(await page.locator('.journeys-refresh').getAttribute('title')).to.equal('Refresh');
    const cells = await row.locator('td').allTextContents();
    expect(cells).to.deep.equal(['promo', String(PEOPLE), '0', String(PEOPLE - buyers.length), '0', '0', String(buyers.length), '25%']);

    await row.click();
    const mailRow = page.locator('.journeys-funnel tr[data-node="ab-mail-a"]');
    await mailRow.waitFor({ timeout: 15_000 });
    const [a, aBought] = [count('A'), count('A', true)];
    expect(await mailRow.locator('td').allTextContents()).to.deep.equal(['offer A: 10% off', String(a), String(a - aBought), '0', '0', String(aBought)]);
    expect(await page.locator('.journeys-channels tr[data-node="ab-mail-a"] td').allTextContents()).to.deep.equal([
      'email: offer A: 10% off',
      String(a),
      '0',
      '0',
      '–', // delivery receipts are SMS only
      '0',
      '0',
      String(aBought),
    ]);
    expect(await page.locator('.journeys-channels th').allTextContents()).to.deep.equal(['send node', 'sent', 'skipped', 'failed', 'delivered', 'opened', 'clicked', 'conv.']);
    expect(await page.locator('.journeys-branches tr[data-variant="B"] td').nth(1).textContent()).to.equal(String(count('B')));
    await page.locator('svg.journeys-timeline').waitFor();
    expect(await page.locator('.journeys-body > div').allTextContents()).to.include.members(['Channels', 'Entries and conversions per day']);
    expect(await page.locator('.journeys-branches th').allTextContents()).to.deep.equal(['branch', 'n', 'conv.', 'rate', '95% CI', 'p', '']);
    expect(await page.locator('svg.journeys-timeline title').first().textContent()).to.match(/^\d{4}-\d{2}-\d{2}: \d+ entered$/);

    await mailRow.click();
    const selected = await page.evaluate(() => (window as any).RED.view.selection().nodes?.map((n: { id: string }) => n.id));
    expect(selected).to.deep.equal(['ab-mail-a']);
    await mkdir(join(root, 'test-artifacts'), { recursive: true });
    await page.evaluate(() => document.querySelector('.journeys-sidebar')?.scrollTo(0, 0));
    await page.screenshot({ path: join(root, 'test-artifacts/journeys-sidebar.png') });
    expect(errors).to.deep.equal([]);
  });
});
