/**
 * Journal compaction, run on a worker thread of its own (see journal.ts for why): the
 * thread replays the journal's first bytes into the latest version of each document and
 * writes those as the new journal's lines. It reads the file, not the store's memory, so
 * nothing is handed across threads but three arguments and a byte count.
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Doc } from '../port.js';
import { decodeRecord, encodeRecord, type JournalRecord } from './codec.js';
import { applyPatch } from './patch.js';

export interface CompactionJob {
  /** The journal, read up to `covers` bytes. */
  file: string;
  covers: number;
  /** Where the compacted lines go; the journal itself is never written by the thread. */
  target: string;
}

/** The thread's name, also the OS thread's (at most 15 characters show there). */
export const COMPACTION_THREAD_NAME = 'journeys-compact';

export interface CompactionRun {
  /** The bytes written to the target, fsynced, once the thread has exited; rejects if it failed or was stopped. */
  done: Promise<number>;
  /** Stops the thread; `done` then rejects, and the target is left for the caller to remove. */
  stop(): Promise<void>;
}

/** Compacts on a new worker thread. */
export function compactInThread(file: string, covers: number, target: string): CompactionRun {
  const worker = new Worker(join(__dirname, 'compaction-thread-entry.js'), {
    workerData: { file, covers, target } satisfies CompactionJob,
    name: COMPACTION_THREAD_NAME,
  });
  // Settled once the thread has exited, so a closed store leaves no thread behind.
  const done = new Promise<number>((resolve, reject) => {
    let bytes: number | null = null;
    let failure: Error | null = null;
    worker.once('message', (written: number) => (bytes = written));
    worker.once('error', (err) => (failure = err));
    worker.once('exit', (code) => {
      if (bytes !== null) resolve(bytes);
      else reject(failure ?? new Error(`the compaction thread stopped (exit code ${code}) before it finished`));
    });
  });
  return {
    done,
    stop: () => worker.terminate().then(() => undefined),
  };
}

/**
 * The latest version of every document a run of journal records leaves, as replaying them
 * into the store would. A document only ever put is kept as the line it was read from: it
 * is written back as it was, with neither a decode held in memory nor an encode.
 */
export class LatestVersions {
  private readonly collections = new Map<string, Map<string, Doc | string>>();

  add(record: JournalRecord, line: string): void {
    let docs = this.collections.get(record.c);
    if (!docs) this.collections.set(record.c, (docs = new Map()));
    if ('put' in record) {
      docs.set(record.put._id, line);
    } else if ('patch' in record) {
      const current = docs.get(record.patch);
      // As a replay does, a patch of a document not held changes nothing.
      if (current === undefined) return;
      const doc = typeof current === 'string' ? (decodeRecord(current) as { put: Doc }).put : current;
      docs.set(record.patch, applyPatch(doc, record.ops));
    } else {
      docs.delete(record.del);
    }
  }

  /** The compacted journal's lines, each with its newline. */
  *lines(): Iterable<string> {
    for (const [c, docs] of this.collections) {
      for (const version of docs.values()) yield typeof version === 'string' ? `${version}\n` : encodeRecord({ c, put: version });
    }
  }
}
