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
import { EmbeddedStore, MongoStore, type Store } from '../lib/index.js';
import { startTestMongo } from '../test/support/mongo-server.js';
import { fmt, machine } from './measure.js';
import { benchTimers, type TimerArm } from './timers.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const option = (name: string): string | undefined => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const only = option('--only');
const storeOnly = option('--store');

interface StoreKind {
  name: 'embedded' | 'mongodb';
  open(): Promise<Store>;
}

async function main(): Promise<void> {
  const mongo = await startTestMongo();
  const directories: string[] = [];
  const kinds: StoreKind[] = [
    {
      name: 'embedded',
      async open() {
        const directory = await mkdtemp(join(tmpdir(), 'journeys-bench-'));
        directories.push(directory);
        return EmbeddedStore.open({ directory });
      },
    },
    { name: 'mongodb', open: () => MongoStore.open({ uri: mongo.uri, database: `bench_${randomUUID().slice(0, 8)}` }) },
  ];
  const report: string[] = [
    '# Benchmarks',
    '',
    `Machine: ${machine()}. MongoDB: ${mongo.server}. Mode: ${quick ? 'quick' : 'full'}. Run: ${new Date().toISOString()}.`,
    '',
    'Produced by `npm run bench`' + (quick ? ' -- --quick' : '') + '. Ratios compare with a baseline measured in the same run on the same store.',
  ];
  try {
    if (!only || only === 'timers') report.push('', ...(await timersSection(kinds, mongo.server)));
  } finally {
    await mongo.stop();
    await Promise.all(directories.map((d) => rm(d, { recursive: true, force: true })));
  }
  report.push('', (await readFile(join(__dirname, '..', '..', 'bench', 'HISTORY.md'), 'utf8')).trim());
  const text = report.join('\n') + '\n';
  console.log('\n' + text);
  await writeFile(join(__dirname, '..', '..', 'BENCHMARKS.md'), text);
}

/** mongo-java-server scans every job on each claim, so it is given fewer waits than a real MongoDB. */
const TEST_SERVER_WAITS = 5_000;

async function timersSection(kinds: StoreKind[], mongoServer: string): Promise<string[]> {
  const count = Number(option('--count') ?? (quick ? 3_000 : 100_000));
  const windowMs = Number(option('--window') ?? (quick ? 10 : 60)) * 1000;
  const onTestServer = mongoServer.startsWith('mongo-java-server');
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
  for (const kind of kinds.filter((k) => !storeOnly || k.name === storeOnly)) {
    const n = kind.name === 'mongodb' && onTestServer ? Math.min(count, TEST_SERVER_WAITS) : count;
    const scenarios = [
      { label: `spread: ${fmt(n)} in ${windowMs / 1000} s`, count: n, windowMs },
      { label: `burst: ${fmt(Math.ceil(n / 5))} at once`, count: Math.ceil(n / 5), windowMs: 0 },
    ];
    for (const scenario of scenarios) {
      console.log(`timers on ${kind.name}, ${scenario.label}…`);
      const [raw, waits] = (await benchTimers({ count: scenario.count, windowMs: scenario.windowMs, open: () => kind.open() })) as [TimerArm, TimerArm];
      for (const arm of [raw, waits]) {
        const overrun = arm.setupOverrunMs > 0 ? ` (setup overran the first due time by ${fmt(arm.setupOverrunMs)} ms)` : '';
        lines.push(
          `| ${kind.name} | ${scenario.label} | ${arm.arm}${overrun} | ${fmt(arm.fired)} / ${fmt(arm.scheduled)} | ${arm.duplicates} | ${fmt(arm.setupMs / 1000, 1)} | ${fmt(arm.perSecond)} | ${fmt(arm.perSecond / raw.perSecond, 2)} | ${fmt(arm.p50)} | ${fmt(arm.p99)} | ${fmt(arm.max)} | ${fmt(arm.peakRssMiB)} |`,
        );
        console.log(`  ${arm.arm}: fired ${arm.fired}/${arm.scheduled}, ${fmt(arm.perSecond)}/s, p50 ${arm.p50} ms, p99 ${arm.p99} ms, peak RSS ${fmt(arm.peakRssMiB)} MiB`);
      }
    }
  }
  lines.push('', 'Goal (issue 3): journey waits within 2× of raw Agenda throughput, p99 lateness under 2 s.');
  if (onTestServer && (!storeOnly || storeOnly === 'mongodb')) {
    lines.push(
      '',
      `On ${mongoServer} the MongoDB rows run ${fmt(Math.min(count, TEST_SERVER_WAITS))} waits, not ${fmt(count)}: that server has no query planner and reads every job on each of Agenda's claims, so both arms are bound by it alone. ` +
        'Set MONGODB_URI to a real MongoDB for the full count.',
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
