/**
 * Opening stores, shared by key: several journey-store config nodes (or redeploys that
 * overlap) naming the same embedded directory or the same database get one open store,
 * closed when the last user releases it. The embedded directory must have one owner per
 * process, and one MongoDB client per database is what the driver wants.
 */
import { resolve } from 'node:path';
import { EmbeddedStore } from './embedded/index.js';
import { MongoStore } from './mongodb/index.js';
import type { Store } from './port.js';

export type StoreConfig =
  | { kind: 'embedded'; directory: string; fsync?: boolean }
  | { kind: 'mongodb'; uri: string; database: string };

export interface StoreLease {
  readonly store: Store;
  release(): Promise<void>;
}

interface Shared {
  opening: Promise<Store>;
  users: number;
}

const shared = new Map<string, Shared>();

function keyOf(config: StoreConfig): string {
  return config.kind === 'embedded'
    ? `embedded:${resolve(config.directory)}`
    : `mongodb:${config.uri}#${config.database}`;
}

export function openStore(config: StoreConfig): Promise<Store> {
  return config.kind === 'embedded'
    ? EmbeddedStore.open({ directory: config.directory, fsync: config.fsync ?? false })
    : MongoStore.open({ uri: config.uri, database: config.database });
}

export async function acquireStore(config: StoreConfig): Promise<StoreLease> {
  const key = keyOf(config);
  let entry = shared.get(key);
  if (!entry) {
    const opening = openStore(config);
    entry = { opening, users: 0 };
    shared.set(key, entry);
    // A failed open must not stay cached: the next deploy tries again.
    opening.catch(() => {
      if (shared.get(key)?.opening === opening) shared.delete(key);
    });
  }
  entry.users += 1;
  const current = entry;
  let store: Store;
  try {
    store = await current.opening;
  } catch (err) {
    current.users -= 1;
    throw err;
  }
  let released = false;
  return {
    store,
    async release() {
      if (released) return;
      released = true;
      current.users -= 1;
      if (current.users === 0 && shared.get(key) === current) {
        shared.delete(key);
        await store.close();
      }
    },
  };
}
