/**
 * Journal patches (lib/store/embedded/patch.ts): replaying what each update changed, through
 * the journal's encoding, must rebuild exactly the document the updates made in memory, and
 * so must replaying them over any later version (what compaction may snapshot).
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedStore, type Doc } from '../../lib/index.js';
import { decodeRecord, encodeRecord } from '../../lib/store/embedded/codec.js';
import { applyPatch } from '../../lib/store/embedded/patch.js';
import { applyPlainUpdate, type PatchOp } from '../../lib/store/embedded/plain-update.js';

const key = fc.constantFrom('a', 'b', 'c', 'n');
const path = fc.array(key, { minLength: 1, maxLength: 3 }).map((segments) => segments.join('.'));
const leaf = fc.oneof(fc.integer({ min: -5, max: 5 }), fc.constantFrom('x', 'y', null, true), fc.date({ min: new Date(0), max: new Date(10_000), noInvalidDate: true }));
const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  node: fc.oneof({ depthSize: 'small' }, leaf, fc.array(leaf, { maxLength: 2 }), fc.dictionary(key, tie('node'), { maxKeys: 3, noNullPrototype: true })),
})).node;
const doc = fc.dictionary(key, value, { maxKeys: 4, noNullPrototype: true }).map((d) => ({ ...d, _id: 'd' }));
const modifier = fc.record(
  {
    $set: fc.dictionary(path, value, { maxKeys: 2, noNullPrototype: true }),
    $unset: fc.dictionary(path, fc.constant(''), { maxKeys: 2, noNullPrototype: true }),
    $inc: fc.dictionary(path, fc.integer({ min: -3, max: 3 }), { maxKeys: 2, noNullPrototype: true }),
    $push: fc.dictionary(path, fc.oneof(leaf, fc.record({ $each: fc.array(leaf, { maxLength: 2 }), $slice: fc.integer({ min: -2, max: 2 }) })), { maxKeys: 1, noNullPrototype: true }),
    $max: fc.dictionary(path, leaf, { maxKeys: 1, noNullPrototype: true }),
  },
  { requiredKeys: [] },
);

/** Through the journal's encoding and back, as a replay reads it. */
const journaled = (ops: PatchOp[]): PatchOp[] => {
  const record = decodeRecord(encodeRecord({ c: 'c', patch: 'd', ops }));
  return 'patch' in record ? record.ops : [];
};
/** What the journal keeps of a whole document. */
const asStored = (d: object) => JSON.parse(JSON.stringify(d), (_k, v: unknown) => v) as unknown;
const roundTrip = (d: Doc): Doc => {
  const record = decodeRecord(encodeRecord({ c: 'c', put: d }));
  return 'put' in record ? record.put : d;
};

describe('embedded store: journal patches', () => {
  it('rebuild what a run of updates made, from the first version or any later one', () => {
    let patched = 0;
    fc.assert(
      fc.property(doc, fc.array(modifier, { minLength: 1, maxLength: 6 }), fc.nat(), (first, updates, from) => {
        const versions: Doc[] = [first];
        const patches: PatchOp[][] = [];
        for (const update of updates) {
          const outcome = applyPlainUpdate(versions[versions.length - 1]!, update);
          if (!outcome || !outcome.changed) continue;
          versions.push(outcome.next);
          patches.push(journaled(outcome.ops));
        }
        patched += patches.length;
        const last = roundTrip(versions[versions.length - 1]!);
        // From the first version: the journal's own order.
        expect(patches.reduce((d, ops) => applyPatch(d, ops), roundTrip(first))).to.deep.equal(last);
        // From a later version, with every patch replayed over it (a compaction's snapshot taken mid-run).
        const start = roundTrip(versions[from % versions.length]!);
        const before = structuredClone(start);
        expect(patches.reduce((d, ops) => applyPatch(d, ops), start)).to.deep.equal(last);
        expect(start, 'the version patched is left untouched').to.deep.equal(before);
        expect(asStored(last)).to.deep.equal(asStored(versions[versions.length - 1]!));
      }),
      { numRuns: 3000, seed: 20261123 },
    );
    expect(patched).to.be.greaterThan(1500);
  });

  it('journal an update as the fields it changed, and reopen to the same documents', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'journeys-patch-'));
    try {
      const store = await EmbeddedStore.open({ directory });
      const profiles = store.collection<Doc & Record<string, unknown>>('profiles');
      const recent = Array.from({ length: 50 }, (_, i) => new Date(i * 1000));
      await profiles.insertOne({ _id: 'p', traits: { plan: 'free' }, recent, version: 1, updatedAt: new Date(1) });
      await profiles.updateOne({ _id: 'p' }, { $set: { 'traits.plan': 'pro', updatedAt: new Date(2) }, $inc: { version: 1 }, $unset: { gone: '' } });
      await profiles.findOneAndUpdate({ _id: 'p' }, { $push: { recent: { $each: [new Date(99_000)], $sort: -1, $slice: 50 } }, $unset: { updatedAt: '' } });
      await profiles.updateMany({ version: 2 }, { $set: { 'traits.city': 'Porto' } });
      // Not a plain update: journaled whole, as before.
      await profiles.updateOne({ _id: 'p' }, { $addToSet: { tags: { $each: ['a'] } } });
      const expected = await profiles.findOne({ _id: 'p' });
      await store.close();
      const lines = (await import('node:fs/promises')).readFile(join(directory, 'journal.jsonl'), 'utf8');
      const records = (await lines).trim().split('\n').map(decodeRecord);
      expect(records.map((r) => ('put' in r ? 'put' : 'patch' in r ? 'patch' : 'del'))).to.deep.equal(['put', 'patch', 'patch', 'patch', 'put']);
      expect(records[1]).to.deep.equal({ c: 'profiles', patch: 'p', ops: [['traits.plan', 'pro'], ['updatedAt', new Date(2)], ['version', 2]] });
      const reopened = await EmbeddedStore.open({ directory });
      expect(await reopened.collection('profiles').findOne({ _id: 'p' })).to.deep.equal(expected);
      await reopened.close();
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});
