/**
 * Event to first send: a journey with no wait (event-in -> profile-merge -> send-email) in
 * the bench's Node-RED runtime, its email-account pointed at a local SMTP server
 * (smtp-server, in this process, not parsing the mails). Events are handed in on a schedule at
 * the offered rate whether or not earlier ones are done (open loop), so a flow that falls
 * behind builds a backlog instead of slowing the load down. Each event's latency runs from
 * its scheduled time to the SMTP server taking its email.
 */
import { TestSmtpServer } from '../test/support/smtp.js';
import { peakRss, percentile, sleep } from './measure.js';
import { benchNodeRed, type Credentials, type FlowNode } from './node-red.js';
import { HTML, SUBJECT, TEXT } from './sends.js';

export interface FirstSendPlan {
  /** Offered events per second. */
  rate: number;
  seconds: number;
  /** How long the emails still owed when the load stops may take to arrive. */
  drainSeconds: number;
  /** A journey-store config node on a fresh store, id STORE, and its credentials. */
  store: { node: FlowNode; credentials: Credentials };
  /** The email-account's Connections. */
  connections: number;
  /**
   * Seconds of load at the offered rate before the measured window: the process a user runs
   * has been up for a while, its code compiled by the JIT and its pools open (a cold first run
   * was about 0.4 s slower at p99).
   */
  warmUpSeconds: number;
  /** Commands sent to the store's server so far, where they are counted (MongoDB). */
  sent?: () => number;
}

export interface FirstSendResult {
  offered: number;
  /** Events handed in per second, over the time it took to hand them in. */
  achievedRate: number;
  /** Emails taken by the SMTP server by the time the last event was handed in. */
  sentInWindow: number;
  /** Events still without an email when the last event was handed in. */
  backlog: number;
  /** Emails taken in all, within the drain time. */
  sent: number;
  /** From the last event handed in until the last email arrived. */
  drainSeconds: number;
  p50: number;
  p99: number;
  max: number;
  /** Node handlers that finished with an error. */
  failed: number;
  /** Events event-in refused as busy (too many journey msgs in flight): they never bring an email. */
  refused: number;
  peakRssMiB: number;
  /** Commands sent to the server in the window and the drain, per email sent (where counted). */
  commandsPerEmail?: number;
}

export const STORE = 'bench-store';
const z = 'bench-first-send';
/** A store too slow to finish the warm-up in this long is measured still warming rather than not at all. */
const WARM_UP_DRAIN_MS = 10_000;

const flows = (store: FlowNode, smtpPort: number, connections: number): FlowNode[] => [
  { id: z, type: 'tab', label: 'bench: event to first send' },
  { ...store, id: STORE },
  { id: 'first-send-smtp', type: 'email-account', host: '127.0.0.1', port: smtpPort, tls: 'starttls', from: 'Shop <news@example.com>', connections },
  {
    id: 'first-send-in',
    type: 'event-in',
    z,
    store: STORE,
    property: 'payload',
    journey: 'welcome',
    trigger: 'signed_up',
    reentry: 'once',
    wires: [['first-send-merge'], []],
  },
  { id: 'first-send-merge', type: 'profile-merge', z, store: STORE, traits: 'payload.traits', consent: 'payload.consent', strategy: 'overwrite', wires: [['first-send-email']] },
  {
    id: 'first-send-email',
    type: 'send-email',
    z,
    store: STORE,
    account: 'first-send-smtp',
    subject: SUBJECT,
    html: HTML,
    text: TEXT,
    consent: 'opt-in',
    wires: [[], []],
  },
];

/** A new person signing up, with the consent the welcome email needs. */
const signUp = (run: string, i: number) => ({
  name: 'signed_up',
  messageId: `${run}-m${i}`,
  identities: { userId: `${run}-u${i}`, email: `${run}-u${i}@example.com` },
  traits: { firstName: `Person ${i}`, plan: i % 2 === 0 ? 'pro' : 'free' },
  consent: { email: true },
});

const RECIPIENT = /^(\w+)-u(\d+)@example\.com$/;

export async function benchFirstSend(plan: FirstSendPlan): Promise<FirstSendResult> {
  const total = Math.round(plan.rate * plan.seconds);
  const intervalMs = 1000 / plan.rate;
  const latencies: number[] = [];
  let t0 = 0;
  let lastArrival = 0;
  // Unparsed: parsing every mail in this process would take CPU from the flow it measures.
  const smtp = await new TestSmtpServer(({ to }) => {
    const [, run, i] = RECIPIENT.exec(to[0] ?? '') ?? [];
    if (run !== 'run') return;
    lastArrival = performance.now();
    latencies.push(lastArrival - (t0 + Number(i) * intervalMs));
  }).start();
  const red = await benchNodeRed();
  try {
    await red.deploy(flows(plan.store.node, smtp.port, plan.connections), plan.store.credentials);
    // Msgs that have finished in every node they reached, per run: once all have, no email is still owed.
    const settled = { warm: 0, run: 0 };
    const inject = (run: 'warm' | 'run', i: number) =>
      red.inject('first-send-in', { _msgid: `${run}-${i}`, payload: signUp(run, i) }, () => {
        settled[run] += 1;
      });
    /** Hands in `count` events of `run` on the schedule of the offered rate from `start`; resolves when the last is in. */
    const offer = async (run: 'warm' | 'run', count: number, start: number) => {
      let injected = 0;
      while (injected < count) {
        const due = Math.min(count, Math.floor((performance.now() - start) / intervalMs) + 1);
        while (injected < due) inject(run, injected++);
        await sleep(1);
      }
    };

    const warmUp = Math.round(plan.rate * plan.warmUpSeconds);
    await offer('warm', warmUp, performance.now());
    for (const end = Date.now() + WARM_UP_DRAIN_MS; settled.warm < warmUp && Date.now() < end; ) await sleep(20);
    red.resetTally();

    const rss = peakRss();
    const commandsBefore = plan.sent?.();
    t0 = performance.now();
    await offer('run', total, t0);
    const windowEnd = performance.now();
    const sentInWindow = latencies.length;
    // The drain ends early once every msg has left the flow (an event refused as busy never brings an email).
    for (const end = windowEnd + plan.drainSeconds * 1000; latencies.length < total && settled.run < total && performance.now() < end; ) await sleep(20);
    const peakRssMiB = rss.stop();
    const commands = plan.sent && commandsBefore !== undefined ? plan.sent() - commandsBefore : undefined;
    const sorted = [...latencies].sort((a, b) => a - b);
    return {
      offered: plan.rate,
      achievedRate: total / ((windowEnd - t0) / 1000),
      sentInWindow,
      backlog: total - sentInWindow,
      sent: latencies.length,
      drainSeconds: Math.max(0, lastArrival - windowEnd) / 1000,
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      max: sorted[sorted.length - 1] ?? Number.NaN,
      failed: red.tally().failed,
      refused: total - red.tally().received('first-send-merge'),
      peakRssMiB,
      ...(commands === undefined ? {} : { commandsPerEmail: commands / Math.max(1, latencies.length) }),
    };
  } finally {
    // The flow goes before the server, so its pooled connections close first.
    await red.deploy([]);
    await smtp.stop();
  }
}
