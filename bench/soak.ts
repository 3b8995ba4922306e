/**
 * npm run soak [-- --rate 500 --minutes 10 --store mongodb|embedded --out result.json]:
 * a real Node-RED process (started as `npm start` starts it) runs the example flows that take
 * events, on MongoDB (MONGODB_URI, else the test server) or the embedded store, sending to a
 * real SMTP server and the Twilio double on 127.0.0.1. Events are offered open-loop over
 * HTTP at the rate; then the run drains, and every event is accounted for (see audit.ts).
 * Exits 1 when anything was lost or duplicated. Loopback only; bounded in time.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { EmbeddedStore, MongoStore, type JourneySummary, type Store } from '../lib/index.js';
import { daytimeZone } from '../test/support/examples.js';
import { startTestMongo, type TestMongo } from '../test/support/mongo-server.js';
import { sleep } from '../test/support/node-red.js';
import { startNodeRed, type RunningNodeRed } from '../test/support/runtime.js';
import { TestSmtpServer } from '../test/support/smtp.js';
import { testAccount, TwilioApiServer } from '../test/support/twilio-api.js';
import { fmt, machine, percentile } from './measure.js';
import { audit, type Audit, type Receipts } from './soak/audit.js';
import { soakFlows, type StoreWiring } from './soak/flows.js';
import { cpuSeconds, onlyChild, sampleUsage, type UsageSample } from './process-usage.js';
import { drive, EventMix, MIX, type Answer } from './soak/traffic.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: string): string => (args.includes(name) ? (args[args.indexOf(name) + 1] ?? fallback) : fallback);
const rate = Number(option('--rate', '500'));
const minutes = Number(option('--minutes', '10'));
const storeKind = option('--store', 'mongodb');
const out = option('--out', '');
const waitSeconds = Number(option('--wait-seconds', '20'));
/** How long the drain may take beyond the waits' own length before what is left counts as lost. */
const graceSeconds = Number(option('--grace', '300'));
/** --profile DIR: Node-RED writes a CPU profile (.cpuprofile) there when it stops. */
const profileDir = option('--profile', '');

const root = resolve(__dirname, '../..');
const SAMPLE_MS = 5_000;
const QUIET_MS = 5_000;

interface Result {
  machine: string;
  store: string;
  rate: number;
  minutes: number;
  waitSeconds: number;
  shortenedWaits: string[];
  offered: number;
  offerSeconds: number;
  answered: number;
  accepted: { entered: number; recorded: number };
  rejected: Record<string, number>;
  unanswered: Record<string, number>;
  /** The first unanswered events: what they were and what became of the request. */
  unansweredSample: Array<Pick<Answer, 'seq' | 'kind' | 'endpoint' | 'at' | 'ms' | 'outcome'>>;
  returningShare: number;
  answerMs: { p50: number; p99: number; max: number };
  drainSeconds: number;
  drained: boolean;
  audit: Audit;
  rss: { firstMinuteMiB: number; endMiB: number; afterDrainMiB: number; growthMiB: number; peakMiB: number; series: UsageSample[] };
  cpuSeconds: { nodeRed: number; mongo: number | null; soak: number };
}

async function main(): Promise<number> {
  // Ctrl-C still stops Node-RED and the servers this run started.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void runCleanup().then(() => process.exit(130)));
  if (storeKind !== 'mongodb' && storeKind !== 'embedded') throw new Error(`--store must be mongodb or embedded, not ${storeKind}`);
  try {
    const mongo: TestMongo | null = storeKind === 'mongodb' ? await startTestMongo() : null;
    if (mongo) cleanup.unshift(() => mongo.stop());
    const storeWiring: StoreWiring = mongo ? { backend: 'mongodb', uri: mongo.uri, database: `soak_${randomUUID().slice(0, 8)}` } : { backend: 'embedded' };

    const receipts: Receipts = { email: new Map(), emailUnlabelled: 0, sms: [] };
    const smtp = await new TestSmtpServer(({ raw, at }) => {
      const header = raw.slice(0, raw.indexOf('\r\n\r\n'));
      const id = /^X-Journeys-Delivery:\s*(\S+)/im.exec(header)?.[1];
      if (!id) receipts.emailUnlabelled += 1;
      else receipts.email.set(id, [...(receipts.email.get(id) ?? []), at]);
    }).start();
    cleanup.unshift(() => smtp.stop());
    const account = testAccount();
    const twilio = await new TwilioApiServer(account.accountSid, account.authToken).start();
    cleanup.unshift(() => twilio.stop());
    receipts.sms = twilio.accepted;

    const secret = randomUUID();
    const { flows, shortened } = soakFlows(join(root, 'examples'), {
      store: storeWiring,
      smtpPort: smtp.port,
      twilio: { ...account, baseUrl: twilio.baseUrl, from: '+15550001111' },
      webhookSecret: secret,
      waitSeconds,
    });

    const userDir = await mkdtemp(join(tmpdir(), 'journeys-soak-'));
    cleanup.unshift(() => rm(userDir, { recursive: true, force: true }));
    const env: Record<string, string> = profileDir ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${resolve(profileDir)}` } : {};
    let red: RunningNodeRed | undefined = await startNodeRed(userDir, env);
    cleanup.unshift(() => red?.stop() ?? Promise.resolve());
    const deployed = await red.request('POST', '/flows', flows, { 'Node-RED-Deployment-Type': 'full' });
    if (deployed.status !== 200 && deployed.status !== 204) throw new Error(`deploy failed: ${deployed.status} ${deployed.text}`);
    await untilReports(red, 30_000);

    console.log(`soak: ${rate} events/s for ${minutes} min into ${flows.filter((n) => n.type === 'tab').length} example flows on ${mongo ? mongo.server : 'the embedded store'}`);
    console.log(`soak: waits shortened so that what follows them happens within the run:\n  ${shortened.join('\n  ')}`);
    const nodeRedPid = onlyChild(red.pid);
    const usage = sampleUsage(nodeRedPid, SAMPLE_MS);
    const cpuAtStart = { red: cpuSeconds(nodeRedPid), mongo: mongo?.pid ? cpuSeconds(mongo.pid) : null, self: process.cpuUsage() };

    const zone = daytimeZone();
    const driven = await drive({
      url: red.url,
      rate,
      seconds: minutes * 60,
      mix: new EventMix(zone, waitSeconds * 1000),
      secret,
      progress: (offered, answered, inFlight) => {
        const rss = usage.samples[usage.samples.length - 1]?.rssMiB ?? 0;
        status(`offered ${offered}, answered ${answered}, in flight ${inFlight}, Node-RED RSS ${fmt(rss)} MiB`);
      },
    });
    status('', true);
    const endOfLoad = usage.samples[usage.samples.length - 1]?.rssMiB ?? Number.NaN;

    const drainStart = Date.now();
    const drained = await drain(red, nodeRedPid, receipts, (waitSeconds * 2 + graceSeconds) * 1000);
    const drainSeconds = (Date.now() - drainStart) / 1000;
    const series = usage.stop();
    const cpu = {
      nodeRed: cpuSeconds(nodeRedPid) - cpuAtStart.red,
      mongo: mongo?.pid && cpuAtStart.mongo !== null ? cpuSeconds(mongo.pid) - cpuAtStart.mongo : null,
      soak: (() => {
        const u = process.cpuUsage(cpuAtStart.self);
        return (u.user + u.system) / 1e6;
      })(),
    };
    const errors = red.output().match(/\[error\].*/g) ?? [];
    await red.stop();
    red = undefined;

    const store = await openStore(storeWiring, userDir);
    let checked: Audit;
    try {
      checked = await audit({ answers: driven.answers, store, receipts, waitSeconds });
    } finally {
      await store.close();
    }

    const result = summarise({ answers: driven.answers, offered: driven.offered, offerSeconds: driven.seconds, drained, drainSeconds, audit: checked, series, endOfLoad, cpu, shortened, server: mongo?.server });
    console.log(`\n${report(result, errors)}`);
    if (out) await writeFile(out, JSON.stringify(result, null, 2));
    return result.audit.lost > 0 || result.audit.duplicated > 0 ? 1 : 0;
  } finally {
    await runCleanup();
  }
}

/** What to stop and remove at the end, last started first. */
const cleanup: Array<() => Promise<unknown>> = [];
async function runCleanup(): Promise<void> {
  for (const step of cleanup.splice(0)) await step().catch((err: unknown) => console.error('soak cleanup:', err));
}

/** Waits until the reports API answers: the store is open and the flows are running. */
async function untilReports(red: RunningNodeRed, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if ((await red.request('GET', '/journeys/reports')).status === 200) return;
    if (Date.now() > end) throw new Error(`the journey store did not open within ${timeoutMs / 1000} s:\n${red.output()}`);
    await sleep(500);
  }
}

/** Until no instance is live and the servers have received nothing new for a while; false when time ran out first. */
async function drain(red: RunningNodeRed, nodeRedPid: number, receipts: Receipts, limitMs: number): Promise<boolean> {
  const end = Date.now() + limitMs;
  let last = -1;
  let quietSince = Date.now();
  while (Date.now() < end) {
    const received = receipts.email.size + receipts.emailUnlabelled + receipts.sms.length;
    if (received !== last) [last, quietSince] = [received, Date.now()];
    if (!existsSync(`/proc/${nodeRedPid}`)) throw new Error(`Node-RED exited during the drain; its last output:\n${red.output().slice(-3_000)}`);
    // A busy or restarting runtime may drop the question: asked again on the next round.
    const answer = await red.request('GET', '/journeys/reports').catch(() => ({ status: 0, json: undefined }));
    const journeys = answer.status === 200 ? (answer.json as { journeys: JourneySummary[] }).journeys : null;
    const live = journeys ? journeys.reduce((n, j) => n + j.active + j.waiting, 0) : Number.NaN;
    status(`draining: ${live} instances live, ${received} messages received`);
    if (live === 0 && Date.now() - quietSince >= QUIET_MS) {
      status('', true);
      return true;
    }
    await sleep(2_000);
  }
  status('', true);
  return false;
}

let lastStatusAt = 0;
/** A progress line: rewritten in place on a terminal, one every 10 s in a log. */
function status(line: string, end = false): void {
  if (process.stdout.isTTY) return void process.stdout.write(end ? '\n' : `\r  ${line}   `);
  if (end || Date.now() - lastStatusAt < 10_000) return;
  lastStatusAt = Date.now();
  console.log(`  ${line}`);
}

async function openStore(wiring: StoreWiring, userDir: string): Promise<Store> {
  return wiring.backend === 'mongodb' ? MongoStore.open({ uri: wiring.uri, database: wiring.database }) : EmbeddedStore.open({ directory: join(userDir, 'journeys-store') });
}

function summarise(run: {
  answers: Answer[];
  offered: number;
  offerSeconds: number;
  drained: boolean;
  drainSeconds: number;
  audit: Audit;
  series: UsageSample[];
  endOfLoad: number;
  cpu: Result['cpuSeconds'];
  shortened: string[];
  server: string | undefined;
}): Result {
  const { answers, series } = run;
  const tally = (list: Answer[]) => list.reduce<Record<string, number>>((r, a) => ((r[a.outcome] = (r[a.outcome] ?? 0) + 1), r), {});
  const answered = answers.filter((a) => a.status !== 0);
  const taken = new Set(['entered', 'recorded']);
  const ms = answered.map((a) => a.ms).sort((a, b) => a - b);
  // A load shorter than two minutes is measured from its middle instead.
  const firstMinute = series.filter((s) => s.t <= Math.min(60, run.offerSeconds / 2)).at(-1) ?? series[0];
  const afterDrain = series.at(-1)?.rssMiB ?? Number.NaN;
  return {
    machine: machine(),
    store: run.server ?? 'embedded',
    rate,
    minutes,
    waitSeconds,
    shortenedWaits: run.shortened,
    offered: run.offered,
    offerSeconds: run.offerSeconds,
    answered: answered.length,
    accepted: { entered: answered.filter((a) => a.outcome === 'entered').length, recorded: answered.filter((a) => a.outcome === 'recorded').length },
    rejected: tally(answered.filter((a) => !taken.has(a.outcome))),
    unanswered: tally(answers.filter((a) => a.status === 0)),
    unansweredSample: answers
      .filter((a) => a.status === 0)
      .slice(0, 20)
      .map(({ seq, kind, endpoint, at, ms, outcome }) => ({ seq, kind, endpoint, at, ms, outcome })),
    returningShare: answers.filter((a) => a.returning).length / Math.max(1, answers.length),
    answerMs: { p50: percentile(ms, 50), p99: percentile(ms, 99), max: ms.at(-1) ?? Number.NaN },
    drainSeconds: run.drainSeconds,
    drained: run.drained,
    audit: run.audit,
    rss: {
      firstMinuteMiB: firstMinute?.rssMiB ?? Number.NaN,
      endMiB: run.endOfLoad,
      afterDrainMiB: afterDrain,
      growthMiB: run.endOfLoad - (firstMinute?.rssMiB ?? Number.NaN),
      peakMiB: Math.max(...series.map((s) => s.rssMiB)),
      series,
    },
    cpuSeconds: run.cpu,
  };
}

function report(r: Result, errors: string[]): string {
  const a = r.audit;
  const list = (o: Record<string, number>) =>
    Object.entries(o)
      .sort((x, y) => y[1] - x[1])
      .map(([k, v]) => `${k} ${fmt(v)}`)
      .join(', ') || '—';
  const lat = (l: Audit['direct']) => `p50 ${fmt(l.p50)} ms, p99 ${fmt(l.p99)} ms, max ${fmt(l.max)} ms (${fmt(l.count)} sends)`;
  const perMinute = r.rss.series.filter((s, i) => i === 0 || Math.floor(s.t / 60) !== Math.floor(r.rss.series[i - 1]!.t / 60));
  const lines = [
    `## Soak: ${fmt(r.rate)} events/s for ${r.minutes} min on ${r.store}`,
    '',
    `Machine: ${r.machine}. Waits shortened to ${r.waitSeconds} s (see below). Traffic mix (percent): ${list(MIX)}; ${fmt(r.returningShare * 100)} % of events from returning people.`,
    '',
    '| measure | value |',
    '|---|---|',
    `| events offered | ${fmt(r.offered)} in ${fmt(r.offerSeconds, 1)} s (${fmt(r.offered / r.offerSeconds)}/s) |`,
    `| answered | ${fmt(r.answered)}; HTTP answer p50 ${fmt(r.answerMs.p50)} ms, p99 ${fmt(r.answerMs.p99)} ms, max ${fmt(r.answerMs.max)} ms |`,
    `| accepted | ${fmt(r.accepted.entered + r.accepted.recorded)} (entered a journey ${fmt(r.accepted.entered)}, recorded only ${fmt(r.accepted.recorded)}) |`,
    `| rejected | ${fmt(Object.values(r.rejected).reduce((x, y) => x + y, 0))}: ${list(r.rejected)} |`,
    `| unanswered (timeout, connection) | ${list(r.unanswered)}${r.unansweredSample.length ? `; first: ${r.unansweredSample.slice(0, 5).map((u) => `#${u.seq} ${u.kind} → ${u.outcome} after ${fmt(u.ms)} ms`).join(', ')}` : ''} |`,
    `| **lost** | **${fmt(a.lost)}**${a.lost ? `: ${list(a.lostBy)}` : ''} |`,
    `| **duplicated** | **${fmt(a.duplicated)}**${a.duplicated ? `: ${list(a.duplicatedBy)}` : ''} |`,
    `| drained | ${r.drained ? 'yes' : 'NO'}, in ${fmt(r.drainSeconds, 1)} s after the last event |`,
    `| received | email ${fmt(a.received.email)}, SMS ${fmt(a.received.sms)} |`,
    `| event → send, no wait before it | ${lat(a.direct)} |`,
    `| event → send after waits, beyond the waits | ${lat(a.afterWaits)} |`,
    `| Node-RED RSS | ${fmt(r.rss.firstMinuteMiB)} MiB at 1 min → ${fmt(r.rss.endMiB)} MiB at the end of the load (growth ${fmt(r.rss.growthMiB)} MiB), ${fmt(r.rss.afterDrainMiB)} MiB after the drain, peak ${fmt(r.rss.peakMiB)} MiB |`,
    `| CPU seconds during the run | Node-RED ${fmt(r.cpuSeconds.nodeRed, 1)}, MongoDB server ${r.cpuSeconds.mongo === null ? '—' : fmt(r.cpuSeconds.mongo, 1)}, soak driver and servers ${fmt(r.cpuSeconds.soak, 1)} |`,
    '',
    `Instances: ${Object.entries(a.instances)
      .map(([j, s]) => `${j} (${list(s)})`)
      .join('; ')}.`,
    '',
    `Deliveries: ${Object.entries(a.deliveries)
      .map(([n, s]) => `${n} (${list(s)})`)
      .join('; ')}.${a.unattributed ? ` ${fmt(a.unattributed)} sends could not be matched to their event for latency.` : ''}`,
    '',
    `RSS by minute (MiB): ${perMinute.map((s) => `${fmt(s.t / 60, 1)} min ${fmt(s.rssMiB)}`).join(', ')}.`,
    '',
    `Shortened waits: ${r.shortenedWaits.join('; ')}.`,
  ];
  if (errors.length > 0) lines.push('', `Node-RED logged ${errors.length} errors; the first: ${errors.slice(0, 3).join(' | ')}`);
  return lines.join('\n');
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(2);
  },
);
