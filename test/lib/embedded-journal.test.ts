/** What only the embedded adapter has to get right: its journal file and its lock. */
import { expect } from 'chai';
import { appendFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedStore } from '../../lib/index.js';

describe('embedded store journal', () => {
  let directory: string;
  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'journeys-journal-'));
  });
  afterEach(() => rm(directory, { recursive: true, force: true }));

  it('ignores a torn last line left by a crash mid-write', async () => {
    const store = await EmbeddedStore.open({ directory });
    await store.collection('c').insertOne({ _id: 'kept', n: 1 });
    await store.close();
    await appendFile(join(directory, 'journal.jsonl'), '{"c":"c","put":{"_id":"torn","n":');
    const reopened = await EmbeddedStore.open({ directory });
    expect(await reopened.collection('c').findOne({ _id: 'kept' })).to.deep.equal({ _id: 'kept', n: 1 });
    expect(await reopened.collection('c').count({})).to.equal(1);
    await reopened.close();
  });

  it('compacts a journal that outgrew its data, keeping the data', async () => {
    const store = await EmbeddedStore.open({ directory, compactAfterBytes: 64 * 1024 });
    await store.collection('c').insertOne({ _id: 'hot', n: 0, pad: 'x'.repeat(200) });
    for (let i = 0; i < 2000; i++) await store.collection('c').updateOne({ _id: 'hot' }, { $inc: { n: 1 } });
    await store.close();
    const size = (await stat(join(directory, 'journal.jsonl'))).size;
    expect(size).to.be.lessThan(200 * 1024); // uncompacted, 2,000 full copies would be ~500 KiB
    const reopened = await EmbeddedStore.open({ directory });
    expect((await reopened.collection<{ _id: string; n: number }>('c').findOne({ _id: 'hot' }))?.n).to.equal(2000);
    await reopened.close();
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
