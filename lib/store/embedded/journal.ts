/**
 * An append-only journal file with group commit and compaction.
 *
 * Each write is acknowledged only after its line reached the file (the OS page cache, or
 * the disk with `fsync`), so a process killed at any point loses nothing it acknowledged.
 * Writes that arrive while one is in flight share the next write call.
 *
 * When the file grows well past its last compacted size, a worker thread (compaction.ts)
 * reads the journal up to that point and writes the latest version of each document to a
 * temp file, while writes go on to the journal. The lines written meanwhile are then
 * copied after the snapshot and the temp file renamed over the journal: a crash at any
 * point leaves either the old journal or the new one, never half. Compacting on this
 * thread re-encoded every stored document, up to a second in which no flow of the runtime
 * could run (bench/HISTORY.md, first send, steps 7 and 8).
 */
import { createReadStream } from 'node:fs';
import { open, rename, rm, stat, truncate, type FileHandle } from 'node:fs/promises';
import { decodeRecord, encodeRecord, type JournalRecord } from './codec.js';
import { compactInThread, type CompactionRun } from './compaction.js';

export interface JournalOptions {
  /** fsync after every group commit: survives power loss, not only a process crash. */
  fsync: boolean;
  /** Compact when the file exceeds this many bytes and twice its size after the last compaction. */
  compactAfterBytes: number;
}

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

/** A snapshot the compaction thread finished: `target` holds the journal's first `covers` bytes, compacted. */
interface Compacted {
  target: string;
  covers: number;
  bytes: number;
}

const NEWLINE = 0x0a;

/**
 * Calls `apply` with each record of the journal's first `upTo` bytes and the line it was
 * read from (without its newline). A line that does not decode is skipped: only the last
 * can be torn (a crash mid-append), and it was never acknowledged. Answers the file's
 * length read and the end of its last whole line that decoded.
 */
export async function readJournal(
  file: string,
  apply: (record: JournalRecord, line: string) => void,
  upTo = Infinity,
): Promise<{ bytes: number; intact: number }> {
  let bytes = 0;
  let intact = 0;
  let rest: Buffer | null = null;
  const input = createReadStream(file, upTo === Infinity ? {} : { end: upTo - 1 });
  for await (const data of input as AsyncIterable<Buffer>) {
    const chunk: Buffer = rest ? Buffer.concat([rest, data]) : data;
    let start = 0;
    for (let end = chunk.indexOf(NEWLINE); end !== -1; end = chunk.indexOf(NEWLINE, start)) {
      if (end > start) {
        const line = chunk.toString('utf8', start, end);
        let record: JournalRecord | null = null;
        try {
          record = decodeRecord(line);
        } catch {
          // Skipped, as a torn line is; what follows it is still read.
        }
        if (record) {
          apply(record, line);
          intact = bytes + end + 1;
        }
      } else {
        intact = bytes + end + 1;
      }
      start = end + 1;
    }
    bytes += start;
    rest = start < chunk.length ? chunk.subarray(start) : null;
  }
  return { bytes: bytes + (rest?.length ?? 0), intact };
}

export class Journal {
  private pending: string[] = [];
  private waiters: Waiter[] = [];
  private flushing: Promise<void> | null = null;
  private failure: Error | null = null;
  private compacting: Promise<void> | null = null;
  private compaction: CompactionRun | null = null;
  private closing = false;
  private compacted: Compacted | null = null;

  private constructor(
    private readonly file: string,
    private handle: FileHandle,
    private bytes: number,
    private compactedBytes: number,
    private readonly options: JournalOptions,
  ) {}

  /**
   * Replays an existing journal through `apply`, then opens it for appending. `documents`
   * answers how many documents the replay left.
   */
  static async open(file: string, options: JournalOptions, apply: (record: JournalRecord) => void, documents: () => number): Promise<Journal> {
    let bytes = 0;
    let records = 0;
    const exists = await stat(file).then(
      (s) => s.isFile(),
      () => false,
    );
    if (exists) {
      const read = await readJournal(file, (record) => {
        apply(record);
        records++;
      });
      // A torn last line must go before anything is appended, or the next record would be
      // joined to it into one line that does not decode, and lost though acknowledged.
      if (read.intact < read.bytes) await truncate(file, read.intact);
      bytes = read.intact;
    }
    const handle = await open(file, 'a');
    // Taking the whole file as compacted would let a process restarted before its journal
    // doubled never compact it: the share of it that is live is estimated from the records
    // that made each document (one for a compacted journal, many for an overwritten one).
    const live = records === 0 ? bytes : Math.round((bytes * Math.min(records, documents())) / records);
    return new Journal(file, handle, bytes, live, options);
  }

  append(records: JournalRecord[]): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<void>((resolve, reject) => {
      for (const record of records) this.pending.push(encodeRecord(record));
      this.waiters.push({ resolve, reject });
      this.flushing ??= this.flushLoop();
    });
  }

  /** Resolves once everything appended so far is written. */
  async drain(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  /**
   * Waits for the writes, and stops a compaction under way: one at the lowest priority on a
   * busy machine could outlast Node-RED's wait for a closing node, and then rename its file
   * over a journal the next store of this process has opened. A finished one is swapped in.
   */
  async close(): Promise<void> {
    this.closing = true;
    await this.compaction?.stop();
    while (this.flushing || this.compacting) {
      await this.compacting;
      await this.drain();
    }
    await this.handle.close();
  }

  private async flushLoop(): Promise<void> {
    for (;;) {
      if (this.compacted) await this.swapIn(this.compacted);
      if (this.pending.length === 0) break;
      const chunk = this.pending.join('');
      const waiters = this.waiters;
      this.pending = [];
      this.waiters = [];
      try {
        await this.handle.write(chunk);
        if (this.options.fsync) await this.handle.sync();
        this.bytes += Buffer.byteLength(chunk);
        for (const w of waiters) w.resolve();
      } catch (err) {
        // Memory already holds these changes; refusing further writes keeps memory and
        // disk from drifting further apart until the process restarts from the journal.
        this.failure = new Error(`embedded store journal write failed: ${(err as Error).message}`, { cause: err });
        for (const w of [...waiters, ...this.waiters]) w.reject(this.failure);
        this.pending = [];
        this.waiters = [];
      }
      if (!this.failure && !this.closing && !this.compacting && this.bytes > this.options.compactAfterBytes && this.bytes > 2 * this.compactedBytes) {
        this.compacting = this.compact();
      }
    }
    this.flushing = null;
  }

  private async compact(): Promise<void> {
    const target = `${this.file}.compact`;
    const covers = this.bytes;
    try {
      this.compaction = compactInThread(this.file, covers, target);
      const bytes = await this.compaction.done;
      this.compacted = { target, covers, bytes };
      this.flushing ??= this.flushLoop();
    } catch {
      // Nothing is lost: the journal the thread read is still the one written to.
      await this.abandon(target);
    } finally {
      this.compaction = null;
    }
  }

  /**
   * Gives a compaction up, its temp file removed. The next try waits for the file to double
   * again rather than failing on every write. Cleared only once the file is gone: a closing
   * store waits for this, and another compaction must not start before.
   */
  private async abandon(target: string): Promise<void> {
    this.compactedBytes = this.bytes;
    await rm(target, { force: true }).catch(() => undefined);
    this.compacting = null;
  }

  /** Runs between two writes: copies what was written during the compaction after the snapshot, then renames it over the journal. */
  private async swapIn({ target, covers, bytes }: Compacted): Promise<void> {
    this.compacted = null;
    const tail = this.bytes - covers;
    try {
      const out = await open(target, 'a');
      try {
        if (tail > 0) {
          for await (const data of createReadStream(this.file, { start: covers, end: this.bytes - 1 }) as AsyncIterable<Buffer>) {
            await out.write(data);
          }
        }
        await out.sync();
      } finally {
        await out.close();
      }
      await rename(target, this.file);
    } catch {
      // Before the rename the journal is untouched: keep writing to it.
      await this.abandon(target);
      return;
    }
    try {
      await this.handle.close();
      this.handle = await open(this.file, 'a');
      this.bytes = bytes + tail;
      this.compactedBytes = this.bytes;
    } catch (err) {
      this.failure = new Error(`embedded store compaction failed: ${(err as Error).message}`, { cause: err });
    }
    this.compacting = null;
  }
}
