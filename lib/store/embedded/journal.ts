/**
 * An append-only journal file with group commit and compaction.
 *
 * Each write is acknowledged only after its line reached the file (the OS page cache, or
 * the disk with `fsync`), so a process killed at any point loses nothing it acknowledged.
 * Writes that arrive while one is in flight share the next write call. When the file grows
 * well past the live data it is rewritten from a snapshot through a temp file and rename,
 * so a crash during compaction leaves either the old journal or the new one, never half.
 */
import { open, rename, stat, type FileHandle } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { decodeRecord, encodeRecord, type JournalRecord } from './codec.js';

export interface JournalOptions {
  /** fsync after every group commit: survives power loss, not only a process crash. */
  fsync: boolean;
  /** Compact when the file exceeds this many bytes and twice the last snapshot's size. */
  compactAfterBytes: number;
}

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

export class Journal {
  private pending: string[] = [];
  private waiters: Waiter[] = [];
  private flushing: Promise<void> | null = null;
  private failure: Error | null = null;
  private snapshotBytes = 0;

  private constructor(
    private readonly file: string,
    private handle: FileHandle,
    private bytes: number,
    private readonly options: JournalOptions,
    private readonly snapshot: () => Iterable<JournalRecord>,
  ) {
    this.snapshotBytes = bytes;
  }

  /** Replays an existing journal through `apply`, then opens it for appending. */
  static async open(
    file: string,
    options: JournalOptions,
    apply: (record: JournalRecord) => void,
    snapshot: () => Iterable<JournalRecord>,
  ): Promise<Journal> {
    let bytes = 0;
    const exists = await stat(file).then(
      (s) => s.isFile(),
      () => false,
    );
    if (exists) {
      const lines = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
      for await (const line of lines) {
        bytes += Buffer.byteLength(line) + 1;
        if (line.length === 0) continue;
        let record: JournalRecord;
        try {
          record = decodeRecord(line);
        } catch {
          // Only the last line can be torn (a crash mid-append); it was never acknowledged.
          continue;
        }
        apply(record);
      }
    }
    const handle = await open(file, 'a');
    return new Journal(file, handle, bytes, options, snapshot);
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

  async close(): Promise<void> {
    await this.drain();
    await this.handle.close();
  }

  private async flushLoop(): Promise<void> {
    while (this.pending.length > 0) {
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
      if (!this.failure && this.bytes > this.options.compactAfterBytes && this.bytes > 2 * this.snapshotBytes) {
        await this.compact().catch((err: Error) => {
          this.failure = new Error(`embedded store compaction failed: ${err.message}`, { cause: err });
        });
      }
    }
    this.flushing = null;
  }

  private async compact(): Promise<void> {
    const tmp = `${this.file}.compact`;
    const out = await open(tmp, 'w');
    let bytes = 0;
    try {
      let buffer: string[] = [];
      let size = 0;
      for (const record of this.snapshot()) {
        const line = encodeRecord(record);
        buffer.push(line);
        size += line.length;
        if (size > 1 << 20) {
          const chunk = buffer.join('');
          await out.write(chunk);
          bytes += Buffer.byteLength(chunk);
          buffer = [];
          size = 0;
        }
      }
      const chunk = buffer.join('');
      await out.write(chunk);
      bytes += Buffer.byteLength(chunk);
      await out.sync();
    } finally {
      await out.close();
    }
    await rename(tmp, this.file);
    await this.handle.close();
    this.handle = await open(this.file, 'a');
    this.bytes = bytes;
    this.snapshotBytes = bytes;
  }
}
