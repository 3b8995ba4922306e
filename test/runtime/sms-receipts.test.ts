/**
 * SMS delivery receipts end to end: a real Node-RED process texts through Twilio's Messages
 * API on loopback, Twilio's signed status callbacks come back to the process's own route,
 * and the reports API and the Journeys sidebar in Chromium give what they said: delivered
 * per send node, and the undelivered with their count in the row's tooltip.
 */
import { expect } from 'chai';
import type { Browser } from 'playwright-core';
import type { ChannelRow, JourneyReport } from '../../lib/index.js';
import { launchChromium, openJourneysSidebar } from '../support/chromium.js';
import { eventually, nodeRedPackage } from '../support/node-red.js';
import { nodeRedSuite, type RunningNodeRed } from '../support/runtime.js';
import { useTwilioApi } from '../support/twilio-api.js';

const z = 'sr-tab';
const PEOPLE = 3;

describe(`SMS delivery receipts (real ${nodeRedPackage} process, Twilio API on loopback, the Journeys sidebar in Chromium)`, function () {
  this.timeout(180_000);
  const { api, account } = useTwilioApi();
  const suite = nodeRedSuite('sms-receipts');
  let red: RunningNodeRed | undefined;
  let browser: Browser | undefined;

  const flow = (publicUrl: string) => [
    { id: z, type: 'tab', label: 'texts' },
    { id: 'sr-store', type: 'journey-store', backend: 'embedded', directory: 'journeys-store', publicUrl },
    { id: 'sr-twilio', type: 'twilio-account', accountSid: account.accountSid, from: '+15550001111', baseUrl: api.baseUrl, store: 'sr-store', credentials: { authToken: account.authToken } },
    { id: 'sr-http', type: 'http in', z, x: 100, y: 100, url: '/texts', method: 'post', wires: [['sr-in', 'sr-ok']] },
    { id: 'sr-ok', type: 'http response', z, x: 300, y: 60, wires: [] },
    { id: 'sr-in', type: 'event-in', z, x: 300, y: 140, store: 'sr-store', property: 'payload', journey: 'texts', trigger: 'signed_up', reentry: 'always', wires: [['sr-send'], []] },
    { id: 'sr-send', type: 'send-sms', z, x: 500, y: 140, name: 'welcome text', store: 'sr-store', account: 'sr-twilio', body: 'Hi {{ profile.traits.firstName }}', consent: 'opt-out', wires: [[], []] },
  ];

  before(async () => {
    red = await suite.start();
    await red.deploy(flow(red.url));
  });
  after(async () => {
    await browser?.close();
  });

  it('counts the receipts Twilio calls back with, and the sidebar shows them on the send node\'s row', async () => {
    for (let i = 0; i < PEOPLE; i++) {
      const answer = await red!.request('POST', '/texts', { name: 'signed_up', identities: { phone: `+1555123400${i}` }, traits: { firstName: `T${i}` }, messageId: `sr-${i}` });
      expect(answer.status, answer.text).to.equal(200);
    }
    await eventually(() => (api.accepted.length === PEOPLE ? true : undefined), 15_000, `${PEOPLE} texts at the Twilio API`);
    expect(api.accepted.map((m) => m.statusCallback)).to.deep.equal(api.accepted.map(() => `${red!.url}/journeys/sms/status/sr-twilio`));
    const [first, second, third] = api.accepted;
    for (const [message, status] of [[first!, 'delivered'], [second!, 'delivered']] as const) expect((await api.reportStatus(message, status)).status).to.equal(200);
    expect((await api.reportStatus(third!, 'undelivered', { errorCode: '30003' })).status).to.equal(200);

    const row = await eventually(async () => {
      const report = (await red!.request('GET', '/journeys/reports/texts')).json as JourneyReport;
      const sms = report.channels.find((c: ChannelRow) => c.node === 'sr-send');
      return sms && sms.delivered + sms.undelivered === PEOPLE ? sms : undefined;
    }, 10_000, 'the receipts in the report');
    expect(row).to.include({ channel: 'sms', sent: PEOPLE, delivered: 2, undelivered: 1 });

    browser = await launchChromium();
    const page = await browser.newPage({ viewport: { width: 1700, height: 1200 } });
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    await openJourneysSidebar(page, red!.url, 'sr-send');
    await page.locator('.journeys-list tr[data-journey="texts"]').click();
    const smsRow = page.locator('.journeys-channels tr[data-node="sr-send"]');
    await smsRow.waitFor({ timeout: 15_000 });
    // send node, sent, skipped, failed, delivered, opened, clicked, conv.
    expect(await smsRow.locator('td').allTextContents()).to.deep.equal(['sms: welcome text', String(PEOPLE), '0', '0', '2', '0', '0', '0']);
    expect(await smsRow.getAttribute('title')).to.equal('undelivered 1');
    expect(errors).to.deep.equal([]);
  });
});
