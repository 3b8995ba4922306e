/** What only the embedded adapter has to get right: its journal file and its lock. */
import { expect } from 'chai';
import { appendFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedStore } from '../../lib/index.js';
import { spawn } from 'node:child_process';
import { all } from '../support/stores.js';
import { WRITER_DOCUMENTS } from '../support/journal-writer.js';
import { mulberry32 } from '../support/random.js';
import { threadsNamed } from '../support/threads.js';
import { eventually } from '../support/timing.js';
import { COMPACTION_THREAD_NAME } from '../../lib/store/embedded/compaction.js';

describe('embedded store journal', () => {
  let directory: string;
  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'journeys-journal-'));
  });
  afterEach(() => rm(directory, { recursive: true, force: true }));

  /** A store holding one document, closed, then a write torn by a crash mid-append, then opened again. */
  async function reopenAfterTornWrite(): Promise<EmbeddedStore> {
    const store = await EmbeddedStore.open({ directory });
    await store.collection('c').insertOne({ _id: 'kept', n: 1 });
    await store.close();
    await appendFile(join(directory, 'journal.jsonl'), '{"c":"c","put":{"_id":"torn","n":');
    return EmbeddedStore.open({ directory });
  }

  it('ignores a torn last line left by a crash mid-write', async () => {
    const reopened = await reopenAfterTornWrite();
    expect(await reopened.collection('c').findOne({ _id: 'kept' })).to.deep.equal({ _id: 'kept', n: 1 });
    expect(await reopened.collection('c').count({})).to.equal(1);
    await reopened.close();
  });

  it('keeps what is written after a torn last line was dropped', async () => {
    const reopened = await reopenAfterTornWrite();
    await reopened.collection('c').insertOne({ _id: 'after', n: 2 });
    await reopened.close();
    const again = await EmbeddedStore.open({ directory });
    expect(await all(again.collection('c').find({}, { sort: { _id: 1 } }))).to.deep.equal([
      { _id: 'after', n: 2 },
      { _id: 'kept', n: 1 },
    ]);
    await again.close();
  });

  it('compacts a journal that outgrew its data, keeping the data', async () => {
    const store = await EmbeddedStore.open({ directory, compactAfterBytes: 64 * 1024 });
    await store.collection('c').insertOne({ _id: 'hot', n: 0, pad: 'x'.repeat(200) });
    // Each update changes the pad, so each journals about 250 bytes: 500 KiB in all.
    for (let i = 1; i <= 2000; i++) await store.collection('c').updateOne({ _id: 'hot' }, { $set: { n: i, pad: 'x'.repeat(200) + i } });
    // Uncompacted, the journal holds all 2,001 records; a compaction leaves one, then what followed it.
    const lines = async () => (await readFile(join(directory, 'journal.jsonl'), 'utf8')).split('\n').length - 1;
    await eventually(async () => ((await lines()) < 2001 ? true : undefined), 20_000, 'a compaction to finish');
    await store.close();
    expect(await lines()).to.be.within(1, 2000);
    const reopened = await EmbeddedStore.open({ directory });
    expect(await reopened.collection<{ _id: string; n: number; pad: string }>('c').findOne({ _id: 'hot' })).to.deep.equal({ _id: 'hot', n: 2000, pad: 'x'.repeat(200) + 2000 });
    await reopened.close();
  });

  it('compacts after a restart a journal of overwritten documents that never doubled', async () => {
    const store = await EmbeddedStore.open({ directory, compactAfterBytes: 1 << 30 });
    await store.collection('c').insertOne({ _id: 'hot', n: 0, pad: 'x'.repeat(200) });
    for (let i = 0; i < 2000; i++) await store.collection('c').updateOne({ _id: 'hot' }, { $set: { n: i, pad: 'x'.repeat(200) + i } });
    await store.close();
    const written = (await stat(join(directory, 'journal.jsonl'))).size;
    const reopened = await EmbeddedStore.open({ directory, compactAfterBytes: 64 * 1024 });
    await reopened.collection('c').updateOne({ _id: 'hot' }, { $set: { n: -1 } });
    expect(written).to.be.greaterThan(400 * 1024);
    await eventually(async () => ((await stat(join(directory, 'journal.jsonl'))).size < 1024 ? true : undefined), 10_000, 'the journal compacted');
    await reopened.close();
    const again = await EmbeddedStore.open({ directory });
    expect((await again.collection<{ _id: string; n: number }>('c').findOne({ _id: 'hot' }))?.n).to.equal(-1);
    await again.close();
  });

  it('goes on writing while a thread compacts, and keeps every write made meanwhile', async () => {
    const store = await EmbeddedStore.open({ directory, compactAfterBytes: 256 * 1024 });
    const c = store.collection<{ _id: string; n: number; tags?: string[]; pad?: string }>('c');
    const next = mulberry32(7);
    const random = (n: number) => Math.floor(next() * n);
    let writtenDuringCompaction = 0;
    // A thread just started has not lowered its priority yet; one seen later has.
    const nicenessSeen = new Set<number>();
    for (let round = 0; round < 300; round++) {
      // Twenty writes at once share group commits; puts, patches and removals of the same few hundred documents.
      await Promise.all(
        Array.from({ length: 20 }, async () => {
          const id = `d${random(300)}`;
          const choice = random(4);
          // $pull is not on the store's plain-update path: journaled as the whole document.
          if (choice === 0) await c.updateOne({ _id: id }, { $set: { n: round, pad: 'x'.repeat(random(400)) }, $pull: { tags: `t${round - 1}` } }, { upsert: true });
          else if (choice === 1) await c.updateOne({ _id: id }, { $inc: { n: 1 }, $set: { [`f${random(5)}`]: round } }, { upsert: true });
          else if (choice === 2) await c.updateOne({ _id: id }, { $push: { tags: { $each: [`t${round}`], $slice: -3 } } });
          else await c.deleteOne({ _id: id });
        }),
      );
      const thread = compactionThread();
      if (thread) {
        writtenDuringCompaction++;
        nicenessSeen.add(thread.nice);
      }
    }
    const expected = await all(c.find({}, { sort: { _id: 1 } }));
    await store.close();
    expect(writtenDuringCompaction, 'rounds of writes acknowledged while a compaction thread ran').to.be.greaterThan(0);
    expect([...nicenessSeen], 'the compaction thread runs at the lowest priority').to.include(19);
    expect(compactionThread(), 'the thread ended with the store').to.equal(null);
    expect(await readdir(directory)).to.deep.equal(['journal.jsonl']);
    const reopened = await EmbeddedStore.open({ directory });
    expect(await all(reopened.collection('c').find({}, { sort: { _id: 1 } }))).to.deep.equal(expected);
    await reopened.close();
  });

  it('stops a compaction under way at close, keeping the journal it read', async function () {
    this.timeout(60_000);
    const store = await EmbeddedStore.open({ directory, compactAfterBytes: 1 << 30 });
    const c = store.collection<{ _id: string; pad: string; v?: number }>('c');
    await c.insertMany(Array.from({ length: 20_000 }, (_, i) => ({ _id: `d${i}`, pad: 'a'.repeat(1000) })));
    await c.updateMany({}, { $set: { pad: 'b'.repeat(1000) } });
    await store.close();
    const written = (await stat(join(directory, 'journal.jsonl'))).size;
    // Two records per document: half of this journal is taken as live, so the next write compacts it.
    const reopened = await EmbeddedStore.open({ directory, compactAfterBytes: 1024 * 1024 });
    await reopened.collection('c').updateOne({ _id: 'd0' }, { $set: { v: 1 } });
    await eventually(() => compactionThread() ?? undefined, 10_000, 'a compaction thread');
    await reopened.close();
    expect(compactionThread(), 'the thread stopped with the store').to.equal(null);
    expect(await readdir(directory)).to.deep.equal(['journal.jsonl']);
    expect((await stat(join(directory, 'journal.jsonl'))).size, 'the journal as it was, with the one write after').to.be.greaterThan(written);
    const again = await EmbeddedStore.open({ directory });
    const docs = again.collection<{ _id: string; pad: string; v?: number }>('c');
    expect(await docs.count({ pad: 'b'.repeat(1000) })).to.equal(20_000);
    expect((await docs.findOne({ _id: 'd0' }))?.v).to.equal(1);
    await again.close();
  });

  it('loses nothing when a compaction fails, and goes on writing', async () => {
    // A directory where the compacted file would go: the thread cannot write it.
    await mkdir(join(directory, 'journal.jsonl.compact'));
    const store = await EmbeddedStore.open({ directory, compactAfterBytes: 16 * 1024 });
    const c = store.collection<{ _id: string; n: number; pad: string }>('c');
    for (let i = 0; i < 400; i++) await c.updateOne({ _id: `d${i % 10}` }, { $set: { n: i, pad: 'x'.repeat(200) + i } }, { upsert: true });
    await store.close();
    expect((await stat(join(directory, 'journal.jsonl'))).size).to.be.greaterThan(90 * 1024);
    const reopened = await EmbeddedStore.open({ directory });
    const docs = await all(reopened.collection<{ _id: string; n: number }>('c').find({}, { sort: { _id: 1 } }));
    expect(docs.map((d) => d.n)).to.deep.equal([390, 391, 392, 393, 394, 395, 396, 397, 398, 399]);
    await reopened.close();
  });

  it('keeps every acknowledged write across kills at any point, compactions included', async function () {
    this.timeout(120_000);
    const random = mulberry32(11);
    const acknowledged = new Map<number, number>();
    let next = 0;
    let killedMidCompaction = 0;
    let finishedCompactions = 0;
    for (let cycle = 0; cycle < 8; cycle++) {
      // Even runs stop as soon as a compaction thread is seen; odd ones at a random write
      // once a compaction has come and gone (mid-append, between compactions, or between a
      // thread's end and its file's swap). The writer compacts every 64 KiB or so, and at its
      // first write over a journal of overwritten documents.
      const midCompaction = cycle % 2 === 0;
      const stopAfter = next + 10_000 + Math.floor(random() * 40_000);
      const child = spawn(process.execPath, [join(__dirname, '../support/journal-writer.js'), directory, String(next)], { stdio: ['ignore', 'pipe', 'inherit'] });
      let killed = false;
      const kill = () => {
        if (killed) return;
        killed = true;
        child.kill('SIGKILL');
      };
      let seen = false;
      let finished = false;
      const watch = setInterval(() => {
        const thread = compactionThread(child.pid);
        if (killed) return;
        if (thread && midCompaction) {
          killedMidCompaction++;
          kill();
        } else if (thread) {
          seen = true;
        } else if (seen && !finished) {
          finished = true;
          finishedCompactions++;
        }
      }, 2);
      // However slow the machine, a run ends.
      const giveUp = setTimeout(kill, 30_000);
      let buffered = '';
      await new Promise<void>((resolve, reject) => {
        child.once('error', reject);
        child.once('exit', (code, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(`the writer stopped by itself (${code})`))));
        child.stdout.on('data', (data: Buffer) => {
          const lines = (buffered + data.toString()).split('\n');
          buffered = lines.pop()!;
          for (const line of lines) {
            const n = Number(line);
            const doc = n % WRITER_DOCUMENTS;
            acknowledged.set(doc, Math.max(acknowledged.get(doc) ?? -1, n));
            if (n >= stopAfter && (midCompaction || finished)) kill();
          }
        });
      }).finally(() => {
        clearInterval(watch);
        clearTimeout(giveUp);
      });
      next = Math.max(...acknowledged.values()) + 1000;
    }
    const store = await EmbeddedStore.open({ directory });
    const docs = await all(store.collection<{ _id: string; n: number }>('c').find({}));
    await store.close();
    expect(docs).to.have.length(WRITER_DOCUMENTS);
    for (const doc of docs) {
      // A write in flight at the kill may have landed too: never less than the last acknowledged.
      expect(doc.n, doc._id).to.be.at.least(acknowledged.get(Number(doc._id.slice(1)))!);
      expect(doc.n % WRITER_DOCUMENTS, doc._id).to.equal(Number(doc._id.slice(1)));
    }
    expect(killedMidCompaction, 'runs killed while a compaction thread ran').to.be.at.least(2);
    expect(finishedCompactions, 'runs killed after a compaction finished').to.be.at.least(2);
  });

  it('refuses a directory held by another live process, and takes over a dead one', async () => {
    await writeFile(join(directory, 'store.lock'), String(process.ppid));
    const err = await EmbeddedStore.open({ directory }).then(() => null, (e: Error & { code?: string }) => e);
    expect(err?.code).to.equal('STORE_LOCKED');
    await writeFile(join(directory, 'store.lock'), '2147483646');
    const store = await EmbeddedStore.open({ directory });
    expect(await readFile(join(directory, 'store.lock'), 'utf8')).to.equal(String(process.pid));
    await store.close();
  });
});

/** A process's compaction thread, if one runs, with its nice value. */
function compactionThread(pid: number | 'self' = 'self'): { nice: number } | null {
  return threadsNamed(COMPACTION_THREAD_NAME, pid)[0] ?? null;
}
