/**
 * Audience reads: a segment's matching profiles enumerated by an audience run (paged, each
 * enrolled into a journey) against the same profiles read by one plain cursor of the same
 * filter on the same store — the ceiling. A second run of the same campaign under re-entry
 * "once" shows the cost of an audience that has already entered (every profile refused).
 */
import {
  COLLECTIONS,
  compileSegment,
  startRun,
  type Filter,
  type Profile,
  type RunListener,
  type SegmentRules,
  type Store,
} from '../lib/index.js';
import { profileDoc } from '../test/support/stores.js';
import { peakRss } from './measure.js';

export interface AudienceArm {
  arm: string;
  profiles: number;
  seconds: number;
  perSecond: number;
  peakRssMiB: number;
  /** Heap after the arm minus heap before it, both after a collection. */
  heapGrowthMiB: number;
}

const RULES: SegmentRules = {
  match: 'all',
  rules: [
    { kind: 'trait', field: 'plan', op: 'eq', value: 'pro' },
    { kind: 'consent', channel: 'email', granted: true },
  ],
};

const collect = (): void => (globalThis as { gc?: () => void }).gc?.();
const heapMiB = (): number => {
  collect();
  return process.memoryUsage().heapUsed / 2 ** 20;
};

/** `count` profiles, five in six matching RULES, inserted in batches. */
async function seed(store: Store, count: number): Promise<number> {
  const profiles = store.collection<Profile>(COLLECTIONS.profiles);
  const at = new Date();
  let matching = 0;
  for (let start = 0; start < count; start += 5_000) {
    const batch: Profile[] = [];
    for (let i = start; i < Math.min(count, start + 5_000); i++) {
      const pro = i % 6 !== 5;
      if (pro) matching += 1;
      const _id = `b-${String(i).padStart(8, '0')}`;
      batch.push(
        profileDoc(_id, { traits: { plan: pro ? 'pro' : 'free', name: `Person ${i}`, city: 'Lisbon', score: i % 100 }, consent: { email: { status: 'granted', at } } }, at),
      );
    }
    await profiles.insertMany(batch);
  }
  return matching;
}

async function arm(name: string, work: () => Promise<number>): Promise<AudienceArm> {
  const before = heapMiB();
  const rss = peakRss();
  const began = process.hrtime.bigint();
  const profiles = await work();
  const seconds = Number(process.hrtime.bigint() - began) / 1e9;
  return { arm: name, profiles, seconds, perSecond: profiles / seconds, peakRssMiB: rss.stop(), heapGrowthMiB: heapMiB() - before };
}

/** Runs the campaign once on `store` and resolves with how many profiles came out. */
async function campaign(store: Store, node: string, policy: 'always' | 'once'): Promise<number> {
  let seen = 0;
  const listener: RunListener = {
    entered: () => void (seen += 1),
    refused: () => void (seen += 1),
    progress: () => undefined,
    finished: () => undefined,
  };
  const started = await startRun(store, { node, journey: 'bench', rules: RULES, policy: { mode: policy }, rate: 0 }, 'bench', listener);
  if (started.status !== 'started') throw new Error('a bench run was already running');
  await started.run.finished();
  return seen;
}

/**
 * `rawRead` iterates the filter with the store's plainest cursor (the bare driver on
 * MongoDB) and counts what it read.
 */
export async function benchAudience(options: {
  count: number;
  store: Store;
  rawRead: (filter: Filter) => Promise<number>;
}): Promise<{ matching: number; arms: AudienceArm[] }> {
  const matching = await seed(options.store, options.count);
  const filter = compileSegment(RULES, new Date());
  const arms = [
    await arm('raw cursor read', () => options.rawRead(filter)),
    await arm('audience run: enrol every profile', () => campaign(options.store, 'bench-seg', 'once')),
    await arm('the same campaign again: all refused (once)', () => campaign(options.store, 'bench-seg', 'once')),
  ];
  for (const a of arms) {
    if (a.profiles !== matching) throw new Error(`${a.arm}: ${a.profiles} profiles, expected ${matching}`);
  }
  return { matching, arms };
}
