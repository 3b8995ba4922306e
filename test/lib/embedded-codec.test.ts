/**
 * The embedded store's journal lines and document copies, written without a replacer
 * function or structuredClone for speed, must be exactly what those gave: generated
 * documents, the earlier implementation (a JSON replacer and reviver) as the reference.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import type { Doc } from '../../lib/index.js';
import { decodeRecord, encodeRecord, type JournalRecord } from '../../lib/store/embedded/codec.js';
import { deepCopy } from '../../lib/store/embedded/copy.js';

/** The journal's encoding before it was made faster: the reference. */
function referenceEncode(record: JournalRecord): string {
  return (
    JSON.stringify(record, function (this: Record<string, unknown>, key: string, value: unknown) {
      const raw = this[key];
      return raw instanceof Date ? { $date: raw.toISOString() } : value;
    }) + '\n'
  );
}

function referenceDecode(line: string): JournalRecord {
  return JSON.parse(line, (_key, value: unknown) => {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const entries = Object.keys(value);
      if (entries.length === 1 && entries[0] === '$date') return new Date((value as { $date: string }).$date);
    }
    return value;
  }) as JournalRecord;
}

const key = fc.oneof(fc.constantFrom('a', 'b', '_id', 'date', '__proto__', 'toJSON', 'constructor'), fc.string({ maxLength: 3 }));
const leaf = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: false }),
  fc.string({ maxLength: 5 }),
  fc.constantFrom(null, true, false, undefined),
  fc.date({ min: new Date(-1e13), max: new Date(1e13), noInvalidDate: true }),
);
const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, fc.array(tie('node'), { maxLength: 4 }), fc.dictionary(key, tie('node'), { maxKeys: 4 })),
})).node;
const doc = fc.tuple(fc.string({ minLength: 1, maxLength: 4 }), fc.dictionary(key, value, { maxKeys: 5 })).map(([id, rest]) => ({ ...rest, _id: id }) as Doc);

describe('embedded store: journal codec and copies', () => {
  it('round-trips every document as the replacer and reviver did, and reads their lines as they did', () => {
    fc.assert(
      fc.property(doc, (d) => {
        const record: JournalRecord = { c: 'things', put: d };
        const line = encodeRecord(record);
        const reference = referenceEncode(record);
        // Dates are written as milliseconds now, ISO strings before: otherwise the same line.
        expect(line.replace(/\{"\$date":-?\d+\}/g, 'D')).to.equal(reference.replace(/\{"\$date":"[^"]*"\}/g, 'D'));
        expect(decodeRecord(line)).to.deep.equal(referenceDecode(reference));
        expect(referenceDecode(line), 'a line written now, read by the earlier reviver').to.deep.equal(referenceDecode(reference));
        expect(decodeRecord(reference), 'a line written before, read now').to.deep.equal(referenceDecode(reference));
      }),
      { numRuns: 3000, seed: 20261123 },
    );
    expect(encodeRecord({ c: 'things', del: 'x' })).to.equal(referenceEncode({ c: 'things', del: 'x' }));
    expect(() => encodeRecord({ c: 'things', put: { _id: 'x', at: new Date(Number.NaN) } })).to.throw(RangeError);
  });

  it('leaves the encoded document untouched and keeps a key named __proto__ as data', () => {
    const at = new Date(5);
    const d = JSON.parse('{"_id":"p","__proto__":{"x":1}}') as Doc;
    (d as Record<string, unknown>).at = at;
    (d as Record<string, unknown>).list = [at, { at }];
    const line = encodeRecord({ c: 'c', put: d });
    expect((d as Record<string, unknown>).at).to.equal(at);
    expect(line).to.equal('{"c":"c","put":{"_id":"p","__proto__":{"x":1},"at":{"$date":5},"list":[{"$date":5},{"at":{"$date":5}}]}}\n');
    const back = decodeRecord(line) as { put: Record<string, unknown> };
    expect(Object.getPrototypeOf(back.put)).to.equal(Object.prototype);
    expect(Object.hasOwn(back.put, '__proto__')).to.equal(true);
    expect((back.put.list as unknown[])[0]).to.be.instanceOf(Date);
  });

  it('copies as structuredClone does, sharing nothing with the original', () => {
    fc.assert(
      fc.property(doc, (d) => {
        const copy = deepCopy(d);
        expect(copy).to.deep.equal(structuredClone(d));
        const shared = (a: unknown, b: unknown): boolean =>
          a !== null && typeof a === 'object' && (a === b || Object.keys(a).some((k) => shared((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])));
        expect(shared(copy, d)).to.equal(false);
      }),
      { numRuns: 2000, seed: 7 },
    );
    const odd = { _id: 'x', map: new Map([[1, 2]]), re: /a/g, bytes: new Uint8Array([1, 2]), sparse: [1, , 3] };
    expect(deepCopy(odd)).to.deep.equal(structuredClone(odd));
    expect(() => deepCopy({ _id: 'x', f: () => 1 })).to.throw();
  });
});
