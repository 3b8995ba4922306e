/**
 * npm run bench [-- --quick] [-- --only timers]: measures on the embedded store and on
 * MongoDB (MONGODB_URI, else the test server from test/mongo-server), prints a table and
 * writes it to BENCHMARKS.md with the machine it ran on. Figures are ratios against a
 * baseline measured in the same run, never absolute promises.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { COLLECTIONS, DEFAULT_SMTP_CONNECTIONS, EmbeddedStore, MongoStore, type Filter, type Profile, type Store } from '../lib/index.js';
import { benchAudience } from './audience.js';
import { benchFirstSend, STORE as FIRST_SEND_STORE } from './first-send.js';
import { benchIngest, IN_FLIGHT, seedPeople, STORE as INGEST_STORE, type IngestArm, type RawUpsert } from './ingest.js';
import { startTestMongo } from '../test/support/mongo-server.js';
import { countWire } from './wire-count.js';
import { fmt, machine } from './measure.js';
import { stopBenchNodeRed, type Credentials, type FlowNode } from './node-red.js';
import { benchReports } from './reports.js';
import { benchSends, type SendArm } from './sends.js';
import { benchState } from './state.js';
import { benchTimers, type TimerArm } from './timers.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const option = (name: string): string | undefined => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const only = option('--only');
const storeOnly = option('--store');
/**
 * The stores a section runs on: the one --store names, or both. `quickOnEmbedded`: a quick
 * run leaves MongoDB out unless --store asks for it (for sections that start a runtime per row).
 */
const storesOf = (kinds: StoreKind[], quickOnEmbedded = false): StoreKind[] =>
  kinds.filter((k) => (!storeOnly || k.name === storeOnly) && !(quickOnEmbedded && quick && !storeOnly && k.name === 'mongodb'));

/** Full runs also measure the main figures at a hundredth and a tenth of their data, to show how cost grows. */
const SHARES = quick ? [1] : [0.01, 0.1, 1];

interface GrowthPoint {
  store: string;
  figure: string;
  /** What the data is counted in, e.g. "instances". */
  of: string;
  size: number;
  value: number;
}
const growth: GrowthPoint[] = [];

interface StoreKind {
  name: 'embedded' | 'mongodb';
  open(): Promise<Store>;
  /** Reads every profile matching `filter` from the store opened last, by the plainest cursor there is; returns how many. */
  rawRead(filter: Filter): Promise<number>;
  /** A journey-store config node (id `id`) on a fresh store of this kind, with its credentials; `uri` reaches MongoDB another way. */
  configNode(id: string, uri?: string): Promise<{ node: FlowNode; credentials: Credentials }>;
  /** The store a config node from `configNode` names, opened here: to fill it before a flow opens it. */
  openConfigured(config: { node: FlowNode; credentials: Credentials }): Promise<Store>;
  /**
   * Upserts profile documents into a fresh place of this kind by the plainest writer there is
   * (the bare driver on MongoDB), once `people` others are in it (seedPeople).
   */
  rawUpserts(uri?: string, people?: number): Promise<{ upsert: RawUpsert; close(): Promise<void> }>;
}

async function main(): Promise<void> {
  const runStarted = Date.now();
  const mongo = await startTestMongo();
  const directories: string[] = [];
  let embedded: Store | null = null;
  let database = '';
  const freshDirectory = async () => {
    const directory = await mkdtemp(join(tmpdir(), 'journeys-bench-'));
    directories.push(directory);
    return directory;
  };
  const freshDatabase = () => `bench_${randomUUID().slice(0, 8)}`;
  const kinds: StoreKind[] = [
    {
      name: 'embedded',
      async open() {
        embedded = await EmbeddedStore.open({ directory: await freshDirectory() });
        return embedded;
      },
      async rawRead(filter) {
        let n = 0;
        for await (const _ of embedded!.collection(COLLECTIONS.profiles).find(filter)) n += 1;
        return n;
      },
      async configNode(id) {
        return { node: { id, type: 'journey-store', backend: 'embedded', directory: await freshDirectory() }, credentials: {} };
      },
      openConfigured: ({ node }) => EmbeddedStore.open({ directory: String(node.directory) }),
      async rawUpserts(_uri, people = 0) {
        const store = await EmbeddedStore.open({ directory: await freshDirectory() });
        await seedPeople(store, people);
        const profiles = store.collection<Profile>(COLLECTIONS.profiles);
        return {
          upsert: async (_id, update) => void (await profiles.updateOne({ _id }, update, { upsert: true })),
          close: () => store.close(),
        };
      },
    },
    {
      name: 'mongodb',
      open: () => {
        database = freshDatabase();
        return MongoStore.open({ uri: mongo.uri, database });
      },
      async rawRead(filter) {
        const client = await MongoClient.connect(mongo.uri);
        try {
          let n = 0;
          for await (const _ of client.db(database).collection(COLLECTIONS.profiles).find(filter)) n += 1;
          return n;
        } finally {
          await client.close();
        }
      },
      async configNode(id, uri = mongo.uri) {
        return { node: { id, type: 'journey-store', backend: 'mongodb', database: freshDatabase() }, credentials: { [id]: { uri } } };
      },
      openConfigured: ({ node, credentials }) => MongoStore.open({ uri: String(credentials[node.id]?.uri), database: String(node.database) }),
      async rawUpserts(uri = mongo.uri, people = 0) {
        const place = freshDatabase();
        if (people > 0) {
          const store = await MongoStore.open({ uri, database: place });
          await seedPeople(store, people).finally(() => store.close());
        }
        const client = await MongoClient.connect(uri);
        const profiles = client.db(place).collection<{ _id: string }>(COLLECTIONS.profiles);
        return {
          upsert: async (_id, update) => void (await profiles.updateOne({ _id }, update, { upsert: true })),
          close: () => client.close(),
        };
      },
    },
  ];
  const report: string[] = [
    '# Benchmarks',
    '',
    `Machine: ${machine()}. MongoDB: ${mongo.server}. Mode: ${quick ? 'quick' : 'full'}. Run: ${new Date().toISOString()}.`,
    '',
    'Produced by `npm run bench`' + (quick ? ' -- --quick' : '') + '. Ratios compare with a baseline measured in the same run on the same store.',
  ];
  try {
    const sections: Array<[string, () => Promise<string[]>]> = [
      ['ingest', () => ingestSection(kinds, mongo.uri, mongo.server)],
      ['timers', () => timersSection(kinds, mongo.server)],
      ['sends', () => sendsSection(kinds)],
      ['audience', () => audienceSection(kinds, mongo.server)],
      ['first-send', () => firstSendSection(kinds, mongo.uri, mongo.server)],
      ['reports', () => reportsSection(kinds, mongo.server)],
      ['state', () => stateSection(kinds, mongo.uri, mongo.server)],
    ];
    for (const [name, run] of sections) {
      if (only && only !== name) continue;
      const started = Date.now();
      report.push('', ...(await run()));
      console.log(`${name}: ${fmt((Date.now() - started) / 1000, 1)} s`);
    }
    // Only a whole run has every figure; a run of one section keeps the last whole run's table.
    if (!only && !quick) report.push('', ...growthSection());
    report[2] += ` Took ${fmt((Date.now() - runStarted) / 1000)} s.`;
  } finally {
    await stopBenchNodeRed();
    await mongo.stop();
    await Promise.all(directories.map((d) => rm(d, { recursive: true, force: true })));
  }
  const target = join(__dirname, '..', '..', 'BENCHMARKS.md');
  // With --only, the other sections of the last report stay as they were, each with the run it came from.
  if (only) report.push(...(await keptSections(target, only)));
  report.push('', (await readFile(join(__dirname, '..', '..', 'bench', 'HISTORY.md'), 'utf8')).trim());
  const text = report.join('\n') + '\n';
  console.log('\n' + text);
  await writeFile(target, text);
}

/** The `## ` sections of the previous report other than `replaced` and the history, each labelled with its run. */
async function keptSections(path: string, replaced: string): Promise<string[]> {
  let previous: string;
  try {
    previous = await readFile(path, 'utf8');
  } catch {
    return [];
  }
  const run = /^Machine: .*$/m.exec(previous)?.[0] ?? '';
  return previous
    .split(/\n(?=## )/)
    .filter((s) => s.startsWith('## ') && !s.startsWith('## What the figures led to') && !s.toLowerCase().startsWith(`## ${replaced.replace(/-/g, ' ')}`))
    .map((s) => {
      const body = s.trim();
      return body.includes('\n_From an earlier run: ') || !run ? `\n${body}` : `\n${body}\n\n_From an earlier run: ${run}_`;
    });
}

/** The test server has no query planner: every aggregation reads every document, so it gets a tenth of the data. */
const TEST_SERVER_SHARE = 0.1;

async function reportsSection(kinds: StoreKind[], mongoServer: string): Promise<string[]> {
  const instances = Number(option('--instances') ?? (quick ? 5_000 : 100_000));
  const deliveries = Number(option('--deliveries') ?? (quick ? 50_000 : 1_000_000));
  const onTestServer = mongoServer.startsWith('mongo-java-server');
  const lines = [
    '## Reports',
    '',
    'The admin API\'s two questions over a store holding instances (nine in ten in the reported journey) and their deliveries: the journey list, and one journey in full ' +
      '(funnel, channels, split branches with their test, a 30-day timeline). The baseline is one count of the same journey\'s deliveries on the same store. Median of 3 runs.',
    '',
    '| store | instances | deliveries | arm | p50 ms | max ms | ratio to baseline |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const kind of storesOf(kinds)) {
    for (const grown of SHARES) {
      const share = (kind.name === 'mongodb' && onTestServer ? TEST_SERVER_SHARE : 1) * grown;
      const [ni, nd] = [Math.round(instances * share), Math.round(deliveries * share)];
      console.log(`reports on ${kind.name}, ${fmt(ni)} instances and ${fmt(nd)} deliveries…`);
      const store = await kind.open();
      try {
        const { arms } = await benchReports({ store, instances: ni, deliveries: nd });
        const base = arms[0]!;
        for (const a of arms) {
          lines.push(`| ${kind.name} | ${fmt(ni)} | ${fmt(nd)} | ${a.arm} | ${fmt(a.p50)} | ${fmt(a.max)} | ${fmt(a.p50 / base.p50, 1)} |`);
          console.log(`  ${a.arm}: p50 ${fmt(a.p50)} ms`);
        }
        growth.push({ store: kind.name, figure: "one journey's full report, p50 ms", of: 'instances', size: ni, value: arms[arms.length - 1]!.p50 });
      } finally {
        await store.close();
      }
    }
  }
  lines.push(
    '',
    'Goal (issue 6): under a second over 1,000,000 deliveries and 100,000 instances on MongoDB. The reports are aggregations over the stored instances and deliveries, matched by the `journey` indexes.',
  );
  if (onTestServer && (!storeOnly || storeOnly === 'mongodb')) {
    lines.push(
      '',
      `On ${mongoServer} the MongoDB rows hold a tenth of the data: it has no query planner and evaluates every aggregation over every document in Java, so its times say nothing of a real MongoDB's. Set MONGODB_URI to a real MongoDB to measure the goal.`,
    );
  }
  return lines;
}

async function sendsSection(kinds: StoreKind[]): Promise<string[]> {
  const count = Number(option('--emails') ?? (quick ? 500 : 5_000));
  const lines = [
    '## Sends',
    '',
    'Emails to a local SMTP server (smtp-server, in the same process, parsing each mail) with 20 sends in flight. The baseline is nodemailer with the same pool sending a pre-rendered mail; ' +
      'the journeys arm is the send-email path: read the profile, check consent, render subject, HTML and text with nunjucks, sign the tracked links, record the delivery, send, record the outcome.',
    '',
    '| store | arm | emails | emails/s | ratio to nodemailer | latency p50 ms | p99 ms | peak RSS MiB |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const kind of storesOf(kinds)) {
    console.log(`sends on ${kind.name}, ${fmt(count)} emails…`);
    const store = await kind.open();
    try {
      const [raw, journeys] = (await benchSends({ count, store })) as [SendArm, SendArm];
      for (const a of [raw, journeys]) {
        lines.push(
          `| ${kind.name} | ${a.arm} | ${fmt(a.sent)} | ${fmt(a.perSecond)} | ${fmt(a.perSecond / raw.perSecond, 2)} | ${fmt(a.p50, 1)} | ${fmt(a.p99, 1)} | ${fmt(a.peakRssMiB)} |`,
        );
        console.log(`  ${a.arm}: ${fmt(a.sent)} at ${fmt(a.perSecond)}/s, p50 ${fmt(a.p50, 1)} ms, p99 ${fmt(a.p99, 1)} ms`);
      }
    } finally {
      await store.close();
    }
  }
  return lines;
}

/** The test server keeps its data in the Java heap and inserts slowly: the MongoDB rows stop here. */
const TEST_SERVER_STATE_PROFILES = 100_000;

async function stateSection(kinds: StoreKind[], mongoUri: string, mongoServer: string): Promise<string[]> {
  const largest = Number(option('--state-profiles') ?? (quick ? 10_000 : 1_000_000));
  const sizes = (quick ? [0, largest] : [0, largest / 100, largest / 10, largest]).map((profiles) => ({ profiles, waiting: profiles / 10 }));
  const lines = [
    '## State: memory of one Node-RED process over a growing store',
    '',
    'Resident memory of one real Node-RED process (started as `npm start` starts it, a journey with a 30-day wait deployed) over a store that already holds the profiles, ' +
      'a tenth of them waiting in the journey with their timers. The baseline is the same process and flow over an empty store, in the same run. ' +
      '*open s*: from deploying the flow until the admin API answers with every waiting instance counted. RSS is the peak of six samples once settled.',
    '',
    '| store | profiles | waiting | fill s | open s | RSS MiB | ratio to empty store |',
    '|---|---|---|---|---|---|---|',
  ];
  const onTestServer = mongoServer.startsWith('mongo-java-server');
  // A quick run measures the embedded store only: each row starts a Node-RED process.
  for (const kind of storesOf(kinds, true)) {
    const cap = kind.name === 'mongodb' && onTestServer ? TEST_SERVER_STATE_PROFILES : Infinity;
    const kindSizes = sizes.filter((size) => size.profiles <= cap);
    console.log(`scale of state on ${kind.name}, up to ${fmt(kindSizes[kindSizes.length - 1]!.profiles)} profiles…`);
    const rows = await benchState({ kind: kind.name, uri: mongoUri }, kindSizes);
    const empty = rows[0]!;
    for (const r of rows) {
      lines.push(`| ${kind.name} | ${fmt(r.profiles)} | ${fmt(r.waiting)} | ${fmt(r.fillSeconds, 1)} | ${fmt(r.openSeconds, 1)} | ${fmt(r.rssMiB)} | ${fmt(r.rssMiB / empty.rssMiB, 2)} |`);
      if (r.profiles > 0) growth.push({ store: kind.name, figure: 'Node-RED RSS over the store, MiB', of: 'profiles', size: r.profiles, value: r.rssMiB });
      console.log(`  ${fmt(r.profiles)} profiles, ${fmt(r.waiting)} waiting: RSS ${fmt(r.rssMiB)} MiB, open ${fmt(r.openSeconds, 1)} s`);
    }
  }
  lines.push(
    '',
    'Goal (issue 9): flat in the size of the store. On MongoDB the process holds no profile, instance or timer: its memory is the same over a full store as over an empty one, ' +
      'and only the cost of answering (the admin API\'s counts) grows with the data, on the server. The embedded store keeps every document in the process by design ' +
      '(an in-memory store with an append-only journal, for a machine with no database server): its RSS grows with the data, as the rows show, and the README sizes it. ' +
      `On ${mongoServer} the database's own memory is in the server's process, not counted here, and the MongoDB rows stop at ${fmt(TEST_SERVER_STATE_PROFILES)} profiles (it inserts slowly); set MONGODB_URI to a real MongoDB for 1,000,000.`,
  );
  return lines;
}

/** Each figure measured at three sizes in this run, a tenth apart: how its cost grows with the data. */
function growthSection(): string[] {
  const lines = [
    '## Growth',
    '',
    'The figures above at a hundredth, a tenth and all of their data, from the rows of this run. *per 10×*: how much the figure changes for ten times the data ' +
      '(the geometric mean of the two steps): 1.0 is flat; for a rate, 0.1 would mean each item costs ten times more in a ten times larger store.',
    '',
    '| store | figure | data | at 1× | at 10× | at 100× | per 10× |',
    '|---|---|---|---|---|---|---|',
  ];
  const keys = [...new Set(growth.map((g) => `${g.store}\u0000${g.figure}`))];
  for (const key of keys) {
    const points = growth.filter((g) => `${g.store}\u0000${g.figure}` === key).sort((a, b) => a.size - b.size);
    if (points.length < 3) continue;
    const [small, mid, large] = points.slice(-3) as [GrowthPoint, GrowthPoint, GrowthPoint];
    const perTen = Math.sqrt(large.value / small.value);
    lines.push(
      `| ${small.store} | ${small.figure} | ${fmt(small.size)} → ${fmt(large.size)} ${small.of} | ${fmt(small.value)} | ${fmt(mid.value)} | ${fmt(large.value)} | ${fmt(perTen, 2)} |`,
    );
  }
  return lines;
}

/** mongo-java-server scans every job on each claim, so it is given fewer waits than a real MongoDB (fewer still in a quick run, where it fell seconds behind). */
const TEST_SERVER_WAITS = 2_000;
const TEST_SERVER_WAITS_QUICK = 500;

async function timersSection(kinds: StoreKind[], mongoServer: string): Promise<string[]> {
  const count = Number(option('--count') ?? (quick ? 1_000 : 100_000));
  const windowMs = Number(option('--window') ?? (quick ? 2 : 60)) * 1000;
  const onTestServer = mongoServer.startsWith('mongo-java-server');
  const testServerWaits = Math.min(count, quick ? TEST_SERVER_WAITS_QUICK : TEST_SERVER_WAITS);
  const lines = [
    '## Timers',
    '',
    "Each wait is a journey instance parked by `Waits.wait` and resumed through the wait node's handler; the baseline is raw Agenda jobs, on the same backend with the same Agenda settings, in the same run. " +
      'Lateness is fire time minus due time. *spread*: due times evenly over the window, so resumes/s can at most match the due rate and lateness shows whether it kept pace; ' +
      '*burst*: all due at one instant, so resumes/s is the rate the backlog drains at.',
    '',
    '| store | scenario | arm | fired | twice | setup s | resumes/s | ratio to raw | lateness p50 ms | p99 ms | max ms | peak RSS MiB |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const kind of storesOf(kinds)) {
    const n = kind.name === 'mongodb' && onTestServer ? testServerWaits : count;
    // A quick run has no burst; the test server's bursts only at full size (its growth is its own).
    const shares = quick ? [] : kind.name === 'mongodb' && onTestServer ? [1] : SHARES;
    const bursts = shares.map((grown) => Math.ceil((n / 5) * grown));
    // Fewer waits are given the same due rate, not the same window.
    const window = Math.round((windowMs * n) / count);
    const scenarios = [
      { label: `spread: ${fmt(n)} in ${fmt(window / 1000, window < 10_000 ? 1 : 0)} s`, count: n, windowMs: window },
      ...bursts.map((b) => ({ label: `burst: ${fmt(b)} at once`, count: b, windowMs: 0 })),
    ];
    for (const scenario of scenarios) {
      console.log(`timers on ${kind.name}, ${scenario.label}…`);
      const [raw, waits] = (await benchTimers({ count: scenario.count, windowMs: scenario.windowMs, settleMs: quick ? 500 : 1500, open: () => kind.open() })) as [TimerArm, TimerArm];
      for (const arm of [raw, waits]) {
        const overrun = arm.setupOverrunMs > 0 ? ` (setup overran the first due time by ${fmt(arm.setupOverrunMs)} ms)` : '';
        lines.push(
          `| ${kind.name} | ${scenario.label} | ${arm.arm}${overrun} | ${fmt(arm.fired)} / ${fmt(arm.scheduled)} | ${arm.duplicates} | ${fmt(arm.setupMs / 1000, 1)} | ${fmt(arm.perSecond)} | ${fmt(arm.perSecond / raw.perSecond, 2)} | ${fmt(arm.p50)} | ${fmt(arm.p99)} | ${fmt(arm.max)} | ${fmt(arm.peakRssMiB)} |`,
        );
        console.log(`  ${arm.arm}: fired ${arm.fired}/${arm.scheduled}, ${fmt(arm.perSecond)}/s, p50 ${arm.p50} ms, p99 ${arm.p99} ms, peak RSS ${fmt(arm.peakRssMiB)} MiB`);
      }
      if (scenario.windowMs === 0) growth.push({ store: kind.name, figure: 'journey waits all due at once, resumes/s', of: 'waits', size: scenario.count, value: waits.perSecond });
    }
  }
  lines.push('', 'Goal (issue 3): journey waits within 2× of raw Agenda throughput, p99 lateness under 2 s.');
  if (onTestServer && (!storeOnly || storeOnly === 'mongodb')) {
    lines.push(
      '',
      `On ${mongoServer} the MongoDB rows run ${fmt(testServerWaits)} waits, not ${fmt(count)}: that server has no query planner and reads every job on each of Agenda's claims, so both arms are bound by it alone. ` +
        'Set MONGODB_URI to a real MongoDB for the full count.' +
        (quick ? '' : ' Its burst drains in under a second; what each fired wait costs that server is in `bench/HISTORY.md` (timers on the test MongoDB).'),
    );
  }
  return lines;
}

/** The test server keeps every document in its Java heap; at 1,000,000 it stopped answering (HISTORY audience step 8), so its rows stop here. */
const TEST_SERVER_PROFILES = 240_000;

async function audienceSection(kinds: StoreKind[], mongoServer: string): Promise<string[]> {
  const count = Number(option('--profiles') ?? (quick ? 12_000 : 240_000));
  const onTestServer = mongoServer.startsWith('mongo-java-server');
  const testServerCount = Math.min(count, TEST_SERVER_PROFILES);
  const lines = [
    '## Audience',
    '',
    'A segment (plan is pro AND email consent granted; five profiles in six match) enumerated by an audience run with no rate limit, each profile enrolled into a journey, ' +
      'beside one plain cursor reading the same filter on the same store (the bare driver on MongoDB): the ceiling. Then the same campaign again under re-entry "once", where every profile is refused. ' +
      'Heap growth is measured after a collection, before and after each arm.',
    '',
    '| store | profiles in store | arm | profiles | s | profiles/s | ratio to raw read | heap growth MiB | peak RSS MiB |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const kind of storesOf(kinds)) {
    for (const grown of SHARES) {
      const n = Math.round((kind.name === 'mongodb' && onTestServer ? testServerCount : count) * grown);
      console.log(`audience on ${kind.name}, ${fmt(n)} profiles…`);
      const store = await kind.open();
      try {
        const { arms } = await benchAudience({ count: n, store, rawRead: (filter) => kind.rawRead(filter) });
        const raw = arms[0]!;
        for (const a of arms) {
          lines.push(
            `| ${kind.name} | ${fmt(n)} | ${a.arm} | ${fmt(a.profiles)} | ${fmt(a.seconds, 1)} | ${fmt(a.perSecond)} | ${fmt(a.perSecond / raw.perSecond, 2)} | ${fmt(a.heapGrowthMiB, 1)} | ${fmt(a.peakRssMiB)} |`,
          );
          console.log(`  ${a.arm}: ${fmt(a.profiles)} in ${fmt(a.seconds, 1)} s, ${fmt(a.perSecond)}/s, heap ${fmt(a.heapGrowthMiB, 1)} MiB`);
        }
        growth.push({ store: kind.name, figure: 'audience run enrolling every match, profiles/s', of: 'profiles', size: n, value: arms[1]!.perSecond });
      } finally {
        await store.close();
      }
    }
  }
  lines.push(
    '',
    'Goal (issue 4): 20,000 profiles/s read on MongoDB, the ceiling Adobe Journey Optimizer documents for audience reads; memory flat in the size of the audience. ' +
      'On the embedded store the heap grows by what the run writes — an instance and an entry gate per profile, which that store keeps in memory with every other document — ' +
      'not by the audience it reads: the refusing run, which writes nothing, grows it by nothing. ' +
      'The run reads its audience through one cursor in `_id` order, 5,000 profiles in hand at a time; the embedded store walks its `_id`s in order as the cursor is read, so a profile costs the same however large the store.',
  );
  if (onTestServer && (!storeOnly || storeOnly === 'mongodb')) {
    lines.push(
      '',
      `On ${mongoServer} ` +
        (testServerCount < count ? `the MongoDB rows stop at ${fmt(testServerCount)} profiles (it holds them in its Java heap). It` : 'the MongoDB rows are bound by the server: it') +
        ' runs one command at a time, so its raw read is the ceiling of every arm here. Set MONGODB_URI to a real MongoDB for 1,000,000.',
    );
  }
  return lines;
}

async function ingestSection(kinds: StoreKind[], mongoUri: string, mongoServer: string): Promise<string[]> {
  const count = Number(option('--events') ?? (quick ? 3_000 : 30_000));
  const onTestServer = mongoServer.startsWith('mongo-java-server');
  const lines = [
    '## Ingest',
    '',
    `Events through \`event-in → profile-merge → segment → track\` in one real Node-RED runtime (the node-red package embedded in the bench process, this package installed in its user directory), ${IN_FLIGHT} events in flight. ` +
      'One event in four is a new person signing up (identify: userId and email, traits, email consent); the rest come from people seen before, two page views (a visit counted) to each change of plan. ' +
      'event-in names no journey: it records the event and counts it on the profile; the segment (plan is pro and email consent granted) routes to track, which records a milestone (*qualified*: the events it let through; *failed*: handlers that ended in an error). ' +
      'Latency runs from the msg handed to event-in until its last copy has finished in the last node it reached (counted by the message hooks that complete journey instances). ' +
      'The ceiling, in the same run on the same kind of store: each event\'s change to its person\'s profile document as one upsert, with as many in flight — the bare `mongodb` driver on MongoDB, the store\'s own `updateOne` on the embedded store. ' +
      `Both arms are warmed up first. On MongoDB both arms reach the server through a relay, in a worker thread, that counts the commands each sends (*commands / event*): a command is one round trip however many documents it carries.`,
    '',
    '| store | arm | events | qualified | failed | s | events/s | ratio to raw | latency p50 ms | p99 ms | commands / event | peak RSS MiB |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const kind of storesOf(kinds)) {
    console.log(`ingest on ${kind.name}, ${fmt(count)} events…`);
    const wire = kind.name === 'mongodb' ? await countWire(mongoUri) : undefined;
    const raw = await kind.rawUpserts(wire?.uri);
    try {
      const arms = await benchIngest({ events: count, store: await kind.configNode(INGEST_STORE, wire?.uri), raw: raw.upsert, ...(wire ? { sent: wire.sent } : {}) });
      const ceiling = arms[0]!;
      for (const a of arms) {
        lines.push(
          `| ${kind.name} | ${a.arm} | ${fmt(a.events)} | ${a.qualified === undefined ? '' : fmt(a.qualified)} | ${a.failed === undefined ? '' : fmt(a.failed)} | ${fmt(a.seconds, 1)} | ${fmt(a.perSecond)} | ${fmt(a.perSecond / ceiling.perSecond, 2)} | ${fmt(a.p50, 1)} | ${fmt(a.p99, 1)} | ${a.commandsPerEvent === undefined ? '' : fmt(a.commandsPerEvent, 2)} | ${fmt(a.peakRssMiB)} |`,
        );
        console.log(`  ${a.arm}: ${fmt(a.events)} at ${fmt(a.perSecond)}/s, p50 ${fmt(a.p50, 1)} ms, p99 ${fmt(a.p99, 1)} ms${a.commandsPerEvent === undefined ? '' : `, ${fmt(a.commandsPerEvent, 2)} commands/event`}`);
      }
    } finally {
      await raw.close();
      await wire?.stop();
    }
  }
  lines.push('', 'Goal (issue 9): on MongoDB, at least half the raw-driver rate and at least 5,000 events/s, the peak per organisation Adobe Journey Optimizer documents for unitary events.');
  if (onTestServer && (!storeOnly || storeOnly === 'mongodb')) {
    lines.push(
      '',
      `On ${mongoServer} both arms are bound by the server, which runs one command at a time, so its figures say little of a real MongoDB's. ` +
        'Alone it would use an index only for a query on exactly the index\'s fields; our launcher (test/mongo-server) answers a query with an `_id` and other conditions through the `_id` index, as MongoDB does, so each guarded write of the flow (by `_id` and a condition: the event not counted yet, the profile not merged away, its version unchanged) is a lookup like the raw arm\'s upsert. ' +
        'The commands per event are the figure that carries over to a real MongoDB. Set MONGODB_URI to a real MongoDB to measure the goal.',
    );
  }
  if (!quick) lines.push('', ...(await grownIngest(kinds, onTestServer)));
  return lines;
}

/** People already in the store for the ingest growth rows, a tenth apart, and the events each row runs. */
const GROWN_PEOPLE = [2_400, 24_000, 240_000];
const GROWN_EVENTS = 10_000;

/**
 * The same ingest over a store that already holds people the events never name: whether an
 * event costs more in a larger store. Not on the test MongoDB server, whose figures say
 * little of a real one's and which fills slowly.
 */
async function grownIngest(kinds: StoreKind[], onTestServer: boolean): Promise<string[]> {
  const lines = [
    `Over a store that already holds *people* others (each a profile with its userId and email claimed, as earlier sign-ups leave them), ${fmt(GROWN_EVENTS)} events each, both arms over the same number of people` +
      (onTestServer ? '; on the embedded store only (the MongoDB test server would take minutes to fill):' : ':'),
    '',
    '| store | people in store | arm | events | s | events/s | ratio to raw | latency p50 ms | p99 ms | peak RSS MiB |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const kind of storesOf(kinds).filter((k) => k.name === 'embedded' || !onTestServer)) {
    for (const people of GROWN_PEOPLE) {
      console.log(`ingest on ${kind.name}, ${fmt(GROWN_EVENTS)} events, ${fmt(people)} people in the store…`);
      const config = await kind.configNode(INGEST_STORE);
      const store = await kind.openConfigured(config);
      await seedPeople(store, people).finally(() => store.close());
      const raw = await kind.rawUpserts(undefined, people);
      let arms: IngestArm[];
      try {
        arms = await benchIngest({ events: GROWN_EVENTS, store: config, raw: raw.upsert });
      } finally {
        await raw.close();
      }
      const ceiling = arms[0]!;
      for (const a of arms) {
        lines.push(
          `| ${kind.name} | ${fmt(people)} | ${a.arm} | ${fmt(a.events)} | ${fmt(a.seconds, 1)} | ${fmt(a.perSecond)} | ${fmt(a.perSecond / ceiling.perSecond, 2)} | ${fmt(a.p50, 1)} | ${fmt(a.p99, 1)} | ${fmt(a.peakRssMiB)} |`,
        );
        console.log(`  ${a.arm}: ${fmt(a.perSecond)}/s, p50 ${fmt(a.p50, 1)} ms, p99 ${fmt(a.p99, 1)} ms`);
      }
      growth.push({ store: kind.name, figure: 'ingest through the flow, events/s', of: 'people in the store', size: people, value: arms[1]!.perSecond });
    }
  }
  return lines;
}

/** The email-account's Connections: the default, and one for a relay that takes more. */
// A quick run keeps the row that can take the goal's load: each row starts a flow and warms it up.
const FIRST_SEND_CONNECTIONS = quick ? [20] : [DEFAULT_SMTP_CONNECTIONS, 20];

/** The test server cannot keep up with the offered rate: a shorter window keeps its backlog (and its drain) within reach. */
const TEST_SERVER_WINDOW_SHARE = 0.3;

async function firstSendSection(kinds: StoreKind[], mongoUri: string, mongoServer: string): Promise<string[]> {
  const rate = Number(option('--rate') ?? 1_000);
  const seconds = Number(option('--seconds') ?? (quick ? 2 : 30));
  const drainSeconds = quick ? 3 : 20;
  const warmUpSeconds = quick ? 0.5 : 3;
  const onTestServer = mongoServer.startsWith('mongo-java-server');
  const lines = [
    '## First send: from event to email taken by the SMTP server',
    '',
    `A journey with no wait, \`event-in → profile-merge → send-email\`, in the same embedded Node-RED runtime, its email-account pointed at a local SMTP server (smtp-server, in the same process, not parsing the mails) with *connections* connections (the account's Connections: ${FIRST_SEND_CONNECTIONS.join(' and ')}). ` +
      `Each event is a new person signing up with email consent. Events are handed to event-in on a schedule at ${fmt(rate)}/s whether or not the earlier ones are done (open loop). ` +
      `Before the measured window, ${warmUpSeconds} s of the same load (not measured) warm the process up, and the flow finishes them. ` +
      'Latency runs from the time an event was due to be handed in to the time the SMTP server took its email. ' +
      `*backlog*: events still without an email when the last one was handed in; the flow then has ${drainSeconds} s to send what it owes, and *drain s* is how long the last email took after the load stopped. ` +
      'The percentiles are over the emails that arrived; any still owed when the drain time ran out show in *sent* and are later than *max*. ' +
      '*refused busy*: events event-in refused because 1,000 journey msgs were in flight (its default limit; a webhook sender is told 503, try again): they bring no email and are not in the percentiles. ' +
      'The drain ends early once every event has left the flow. On MongoDB the store is reached through the counting relay of the ingest section: *commands / email* is the commands sent in the window and the drain over the emails sent.',
    '',
    '| store | connections | offered /s | s | achieved /s | sent in window | backlog | sent | refused busy | drain s | failed | latency p50 ms | p99 ms | max ms | commands / email | peak RSS MiB |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const kind of storesOf(kinds)) {
    const window = kind.name === 'mongodb' && onTestServer ? seconds * TEST_SERVER_WINDOW_SHARE : seconds;
    for (const connections of FIRST_SEND_CONNECTIONS) {
      console.log(`first send on ${kind.name}, ${connections} SMTP connections, ${fmt(rate)}/s for ${fmt(window, 1)} s…`);
      const wire = kind.name === 'mongodb' ? await countWire(mongoUri) : undefined;
      let r: Awaited<ReturnType<typeof benchFirstSend>>;
      try {
        r = await benchFirstSend({ rate, seconds: window, drainSeconds, warmUpSeconds, connections, store: await kind.configNode(FIRST_SEND_STORE, wire?.uri), ...(wire ? { sent: wire.sent } : {}) });
      } finally {
        await wire?.stop();
      }
      lines.push(
        `| ${kind.name} | ${connections} | ${fmt(r.offered)} | ${fmt(window, 1)} | ${fmt(r.achievedRate)} | ${fmt(r.sentInWindow)} | ${fmt(r.backlog)} | ${fmt(r.sent)} / ${fmt(Math.round(rate * window))} | ${fmt(r.refused)} | ${fmt(r.drainSeconds, 1)} | ${fmt(r.failed)} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${fmt(r.max)} | ${r.commandsPerEmail === undefined ? '' : fmt(r.commandsPerEmail, 1)} | ${fmt(r.peakRssMiB)} |`,
      );
      console.log(`  sent ${fmt(r.sent)}, refused ${fmt(r.refused)}, backlog ${fmt(r.backlog)}, drain ${fmt(r.drainSeconds, 1)} s, p50 ${fmt(r.p50)} ms, p99 ${fmt(r.p99)} ms, max ${fmt(r.max)} ms`);
    }
  }
  lines.push('', 'Goal (issue 9): p99 under 1 s at 1,000 events/s. Adobe Journey Optimizer documents up to 5 minutes from event to first send.');
  if (onTestServer && (!storeOnly || storeOnly === 'mongodb')) {
    lines.push(
      '',
      `On ${mongoServer} the MongoDB row offers the same rate for ${fmt(TEST_SERVER_WINDOW_SHARE * 100)}% of the time: that server runs one command at a time and falls behind the offered rate, so its backlog, not the flow, sets the latency. ` +
        'Set MONGODB_URI to a real MongoDB to measure the goal.',
    );
  }
  return lines;
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
