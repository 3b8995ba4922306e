/**
 * The embedded adapter: the default store, with no server. All collections live in memory
 * and in one journal file under a directory (the Node-RED user directory by default).
 * One process owns a directory at a time; a lock file names it, and a lock left by a
 * process that no longer runs (killed, crashed) is taken over.
 */
import { readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { StoreError, type Doc, type Store } from '../port.js';
import { INDEXES, type CollectionName } from '../schema.js';
import { EmbeddedCollection } from './collection.js';
import { Journal, type JournalOptions } from './journal.js';
import type { JournalRecord } from './codec.js';

export interface EmbeddedStoreOptions extends Partial<JournalOptions> {
  directory: string;
}

const JOURNAL_FILE = 'journal.jsonl';
const LOCK_FILE = 'store.lock';

export class EmbeddedStore implements Store {
  readonly kind = 'embedded' as const;
  readonly description: string;
  private readonly collections = new Map<string, EmbeddedCollection<Doc>>();
  private journal: Journal | null = null;
  private closed = false;

  private constructor(readonly directory: string) {
    this.description = `embedded store at ${directory}`;
  }

  static async open(options: EmbeddedStoreOptions): Promise<EmbeddedStore> {
    const directory = resolve(options.directory);
    await mkdir(directory, { recursive: true });
    await takeLock(directory);
    const store = new EmbeddedStore(directory);
    try {
      store.journal = await Journal.open(
        join(directory, JOURNAL_FILE),
        { fsync: options.fsync ?? false, compactAfterBytes: options.compactAfterBytes ?? 16 * 1024 * 1024 },
        (record) => store.replay(record),
        () => [...store.collections.values()].reduce((sum, collection) => sum + collection.size, 0),
      );
    } catch (err) {
      await releaseLock(directory);
      throw err;
    }
    return store;
  }

  collection<T extends Doc>(name: string): EmbeddedCollection<T> {
    if (this.closed) throw new StoreError(`${this.description} is closed`, 'STORE_CLOSED');
    let collection = this.collections.get(name);
    if (!collection) {
      collection = new EmbeddedCollection<Doc>(name, (records) => this.write(records), indexedFields(name));
      this.collections.set(name, collection);
    }
    return collection as unknown as EmbeddedCollection<T>;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.journal?.close();
    await releaseLock(this.directory);
  }

  private write(records: JournalRecord[]): Promise<void> {
    if (!this.journal || this.closed) {
      return Promise.reject(new StoreError(`${this.description} is closed`, 'STORE_CLOSED'));
    }
    return this.journal.append(records);
  }

  private replay(record: JournalRecord): void {
    const collection = this.collection(record.c);
    if ('put' in record) collection.put(record.put);
    else if ('patch' in record) collection.patch(record.patch, record.ops);
    else collection.remove(record.del);
  }
}

/**
 * Every field named in a collection's declared indexes gets an equality index here, but for
 * the descending ones: those are times (updatedAt, timestamp, createdAt), declared to order
 * and range over, which no filter pins to one value; kept by equality they cost a set per
 * millisecond and a move on every write that touches them (a profile's every update).
 */
function indexedFields(collection: string): string[] {
  const specs = (INDEXES as Record<string, (typeof INDEXES)[CollectionName] | undefined>)[collection] ?? [];
  return specs.flatMap((spec) => Object.entries(spec.key).filter(([, direction]) => direction !== -1).map(([field]) => field));
}

async function takeLock(directory: string): Promise<void> {
  const file = join(directory, LOCK_FILE);
  const holder = Number.parseInt(await readFile(file, 'utf8').catch(() => ''), 10);
  if (Number.isInteger(holder) && holder !== process.pid && isRunning(holder)) {
    throw new StoreError(
      `the embedded store at ${directory} is in use by process ${holder}; the embedded store serves one process — use MongoDB to share a store`,
      'STORE_LOCKED',
    );
  }
  await writeFile(file, String(process.pid));
}

async function releaseLock(directory: string): Promise<void> {
  await rm(join(directory, LOCK_FILE), { force: true });
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  return !isZombie(pid);
}

/**
 * A killed process whose parent died too waits as a zombie until something reaps it, which
 * in a container may be never; signals still reach it, but it holds nothing. Linux says so
 * in /proc; elsewhere a live pid is taken as running.
 */
function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The state follows the parenthesised command name, which may itself hold spaces or parentheses.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return false;
  }
}
