/** The two store adapters as test fixtures, so one suite runs unchanged against both. */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { COLLECTIONS, EmbeddedStore, MongoStore, type Profile, type Store } from '../../lib/index.js';
import type { Collection, Doc, UpdateResult } from '../../lib/store/port.js';

export interface StoreFixture {
  readonly name: 'embedded' | 'mongodb';
  /** A fresh, empty store. */
  open(): Promise<Store>;
  /** The same data opened again, as after a restart (the previous store must be closed). */
  reopen(): Promise<Store>;
  cleanup(): Promise<void>;
}

export function testMongoUri(): string {
  const uri = process.env.JOURNEYS_TEST_MONGODB_URI;
  if (!uri) throw new Error('no test MongoDB: the root hook (test/support/hooks) did not start one');
  return uri;
}

export function embeddedFixture(): StoreFixture {
  let directory = '';
  return {
    name: 'embedded',
    async open() {
      directory = await mkdtemp(join(tmpdir(), 'journeys-store-'));
      return EmbeddedStore.open({ directory });
    },
    reopen: () => EmbeddedStore.open({ directory }),
    async cleanup() {
      if (directory) await rm(directory, { recursive: true, force: true });
    },
  };
}

export function mongoFixture(): StoreFixture {
  let database = '';
  return {
    name: 'mongodb',
    open() {
      database = `journeys_test_${randomUUID().slice(0, 8)}`;
      return MongoStore.open({ uri: testMongoUri(), database });
    },
    reopen: () => MongoStore.open({ uri: testMongoUri(), database }),
    async cleanup() {},
  };
}

export const storeFixtures = (): StoreFixture[] => [embeddedFixture(), mongoFixture()];

/** Runs `suite` once per adapter with a fresh store in `ctx.store` for every test. */
export function forEachStore(suite: (ctx: { store: Store; fixture: StoreFixture }) => void): void {
  for (const fixture of storeFixtures()) {
    describe(`on the ${fixture.name} store`, function () {
      const ctx = { store: undefined as unknown as Store, fixture };
      beforeEach(async () => {
        ctx.store = await fixture.open();
      });
      afterEach(async () => {
        await ctx.store.close();
        await fixture.cleanup();
      });
      suite(ctx);
    });
  }
}

/** A stored profile as the package writes one: `parts` over empty defaults, created and updated `at`. */
export function profileDoc(_id: string, parts: Partial<Profile> = {}, at = new Date()): Profile {
  return {
    _id,
    identities: { userId: [_id] },
    traits: {},
    consent: {},
    aggregates: {},
    recentMessageIds: [],
    mergedFrom: [],
    version: 1,
    createdAt: at,
    updatedAt: at,
    ...parts,
  };
}

/**
 * Leaves an instance's wait job as Agenda leaves one it ran `at` (finished, unlocked, not due
 * again): what a process killed before removing it leaves behind.
 */
export function finishWaitJob(store: Store, instanceId: string, at: Date): Promise<UpdateResult> {
  return store
    .collection<Doc>(COLLECTIONS.agendaJobs)
    .updateOne({ 'data.instanceId': instanceId }, { $set: { nextRunAt: null, lockedAt: null, lastRunAt: at, lastFinishedAt: at } });
}

/** Everything a store cursor yields. */
export async function all<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of iterable) out.push(x);
  return out;
}

/**
 * The store as it is, but for one method of one collection, which `replace` builds from the
 * original: a test that makes one write slow or fail and leaves every other as it was.
 */
export function intercepted<K extends keyof Collection<Doc>>(
  store: Store,
  collectionName: string,
  method: K,
  replace: (original: Collection<Doc>[K]) => Collection<Doc>[K],
): Store {
  return new Proxy(store, {
    get(target, key, receiver) {
      if (key !== 'collection') return Reflect.get(target, key, receiver) as unknown;
      return (name: string) => {
        const collection = target.collection<Doc>(name);
        if (name !== collectionName) return collection;
        const replaced = replace((collection[method] as (...args: unknown[]) => unknown).bind(collection) as Collection<Doc>[K]);
        return new Proxy(collection, { get: (c, k, r) => (k === method ? replaced : (Reflect.get(c, k, r) as unknown)) });
      };
    },
  });
}
