/**
 * Timers: N waits due within one window (100,000 within a minute), on one store. The
 * baseline, in the same run and on the same backend, is raw Agenda: the same number of
 * bare jobs with no journey work around them. Reported per arm: how many fired (and how
 * many twice), the rate they drained at, lateness past their due time, and peak RSS.
 */
import type { Agenda, Job } from 'agenda' with { 'resolution-mode': 'import' };
import { COLLECTIONS, createAgenda, Waits, type JourneyInstance, type Store } from '../lib/index.js';
import { closedLoop, peakRss, percentile, sleep } from './measure.js';

export interface TimerArm {
  arm: 'raw Agenda' | 'journey waits';
  scheduled: number;
  fired: number;
  duplicates: number;
  setupMs: number;
  /** Fired per second, from the first due time to the last fire. */
  perSecond: number;
  p50: number;
  p99: number;
  max: number;
  peakRssMiB: number;
  /** How far past the first due time setup ran (0 when it finished in time). */
  setupOverrunMs: number;
}

export interface TimerPlan {
  count: number;
  windowMs: number;
  /** How long after the last fire to watch for a late duplicate. */
  settleMs?: number;
  /** Fresh store per arm. */
  open(): Promise<Store>;
}

const WAIT_NODE = 'bench-wait';

/** Progress goes to stderr, so a long run shows where it is without touching the report. */
const progress = (line: string) => process.stderr.write(`    ${line}\n`);
const FAR_FUTURE = Date.UTC(2100, 0, 1);
const RAW_JOB = 'bench.raw';

/** Due times spread evenly over the window that starts `leadMs` from now. */
function plan(count: number, windowMs: number, leadMs: number): { firstDue: number; due(i: number): number } {
  const firstDue = Date.now() + leadMs;
  return { firstDue, due: (i) => firstDue + Math.floor((i * windowMs) / count) };
}

type Setup = (agenda: Agenda, store: Store, fired: (id: number, due: number) => void) => Promise<(i: number, due: number) => Promise<void>>;

/** Waits (or jobs) scheduled at once during setup: the embedded store's journal then writes them in shared batches. */
const SETUP_IN_FLIGHT = 32;

/** Schedules items 0..count-1, SETUP_IN_FLIGHT at a time, started in order of due time. */
async function scheduleAll(count: number, schedule: (i: number) => Promise<void>, onProgress?: (done: number) => void): Promise<void> {
  let done = 0;
  await closedLoop(count, SETUP_IN_FLIGHT, async (i) => {
    await schedule(i);
    done += 1;
    if (done % 10_000 === 0) onProgress?.(done);
  });
}

/**
 * How long scheduling `count` things will take, timed on a sample in a throwaway store so
 * the measured store only ever holds jobs with their real due times. The sample's first
 * part only warms the code up: timed cold, it overstated the 100,000 journey waits' setup
 * fourfold, and the run then idled for two minutes before the first wait was due.
 */
async function leadFor(arm: TimerArm['arm'], plan_: TimerPlan, setup: Setup): Promise<number> {
  const store = await plan_.open();
  const agenda = await createAgenda(store, { name: `bench-${arm}-sample` });
  try {
    const schedule = await setup(agenda, store, () => undefined);
    const sampled = Math.max(1, Math.min(Math.ceil(plan_.count / 10), 2_000));
    const warmUp = Math.ceil(sampled / 4);
    await scheduleAll(warmUp, (i) => schedule(i, FAR_FUTURE));
    const started = Date.now();
    await scheduleAll(sampled, (i) => schedule(warmUp + i, FAR_FUTURE));
    const perItem = (Date.now() - started) / sampled;
    // The measured store grows to `count` items while the sample's stays small: a margin for
    // that (it also covers the collection after setup, a few tenths of a second at 100,000).
    return Math.ceil(perItem * plan_.count * 1.3) + 1000;
  } finally {
    await store.close();
  }
}

async function runArm(arm: TimerArm['arm'], plan_: TimerPlan, setup: Setup): Promise<TimerArm> {
  // Due times are fixed before scheduling starts, far enough ahead for setup to finish first.
  const leadMs = await leadFor(arm, plan_, setup);
  const store = await plan_.open();
  const agenda = await createAgenda(store, { name: `bench-${arm}` });
  const lateness: number[] = [];
  const seen = new Set<number>();
  let duplicates = 0;
  let lastFire = 0;
  const fired = (id: number, due: number) => {
    const now = Date.now();
    if (seen.has(id)) duplicates += 1;
    seen.add(id);
    lateness.push(now - due);
    lastFire = now;
  };
  const schedule = await setup(agenda, store, fired);
  // Start from a collected heap, so the previous arm's garbage is not counted here (bench runs with --expose-gc).
  (globalThis as { gc?: () => void }).gc?.();
  const memory = peakRss();
  const setupStarted = Date.now();
  const window = plan(plan_.count, plan_.windowMs, leadMs);
  await scheduleAll(
    plan_.count,
    (i) => schedule(i, window.due(i)),
    (done) => progress(`${arm}: scheduled ${done}, ${Math.round((window.firstDue - Date.now()) / 1000)} s before the first is due`),
  );
  const setupMs = Date.now() - setupStarted;
  // Setup's garbage is collected before the first wait is due, not during the window it would distort.
  const collecting = Date.now();
  (globalThis as { gc?: () => void }).gc?.();
  progress(`${arm}: setup ${(setupMs / 1000).toFixed(1)} s, collected in ${((Date.now() - collecting) / 1000).toFixed(1)} s, ${((window.firstDue - Date.now()) / 1000).toFixed(1)} s before the first is due`);
  const setupOverrunMs = Math.max(0, Date.now() - window.firstDue);
  await agenda.start();
  const deadline = window.firstDue + plan_.windowMs + 5 * 60_000;
  for (let tick = 1; seen.size < plan_.count && Date.now() < deadline; tick++) {
    await sleep(200);
    if (tick % 50 === 0) progress(`${arm}: fired ${seen.size}, ${Math.round((Date.now() - window.firstDue) / 1000)} s after the first due time`);
  }
  await sleep(plan_.settleMs ?? 1500); // a late duplicate would show up here
  await agenda.stop();
  const peakRssMiB = memory.stop();
  await store.close();
  lateness.sort((a, b) => a - b);
  const span = Math.max(1, lastFire - window.firstDue);
  return {
    arm,
    scheduled: plan_.count,
    fired: seen.size,
    duplicates,
    setupMs,
    perSecond: (seen.size / span) * 1000,
    p50: percentile(lateness, 50),
    p99: percentile(lateness, 99),
    max: lateness[lateness.length - 1] ?? Number.NaN,
    peakRssMiB,
    setupOverrunMs,
  };
}

interface RawJob {
  seq: number;
  due: number;
}

const instanceId = (i: number) => `bench-${i}`;

export async function benchTimers(plan_: TimerPlan): Promise<TimerArm[]> {
  const raw = await runArm('raw Agenda', plan_, async (agenda, _store, fired) => {
    agenda.define<RawJob>(RAW_JOB, async (job: Job<RawJob>) => {
      fired(job.attrs.data.seq, job.attrs.data.due);
    });
    return async (i, due) => {
      await agenda.create<RawJob>(RAW_JOB, { seq: i, due }).schedule(new Date(due)).save();
    };
  });
  const waits = await runArm('journey waits', plan_, async (agenda, store, fired) => {
    const w = new Waits(store, agenda);
    w.register(WAIT_NODE, async ({ instance, snapshot }) => {
      fired(Number(instance._id.slice('bench-'.length)), Number(snapshot.due));
    });
    const instances = store.collection<JourneyInstance>(COLLECTIONS.instances);
    return async (i, due) => {
      const now = new Date();
      await instances.insertOne({
        _id: instanceId(i),
        journey: 'bench',
        profileId: `p${i}`,
        status: 'active',
        path: [],
        variants: {},
        enteredAt: now,
        updatedAt: now,
      });
      await w.wait({ instanceId: instanceId(i), node: WAIT_NODE, snapshot: { due }, until: new Date(due) });
    };
  });
  return [raw, waits];
}
