/**
 * JSON with dates kept as dates. Journal lines must round-trip `Date` values, or range
 * queries on timestamps would compare strings after a restart. Stored documents never hold
 * keys starting with `$` (lib/validate rejects them), so `{ "$date": … }` is unambiguous.
 *
 * Every write journals whole documents, so this runs for each one, and a profile holds
 * dozens of dates (the recent times of each event it counts): a replacer (or reviver)
 * function given to JSON.stringify (or JSON.parse) is called back for every value, and
 * `toISOString` costs more than the rest of a date's encoding, which together made encoding
 * the largest single cost of an ingested event. Instead, dates are swapped for
 * `{ $date: milliseconds }` in a copy of only the objects that hold one, the rest is left to
 * the native JSON code, and a parsed line is walked once to turn them back. Lines written
 * earlier with `{ $date: ISO string }` read the same (`new Date` takes either), and a
 * journal written now reads the same with the earlier reviver.
 */
import type { Doc } from '../port.js';
import type { PatchOp } from './plain-update.js';

/** A whole document; a patch of one (the fields an update changed, see patch.ts); a removal. */
export type JournalRecord =
  | { c: string; put: Doc }
  | { c: string; patch: string; ops: PatchOp[] }
  | { c: string; del: string };

export function encodeRecord(record: JournalRecord): string {
  return JSON.stringify(withTaggedDates(record)) + '\n';
}

export function decodeRecord(line: string): JournalRecord {
  return withDates(JSON.parse(line) as unknown) as JournalRecord;
}

/**
 * `value` with every Date replaced by `{ $date: milliseconds }`: the objects and arrays on
 * the way to a date are copied, the rest is `value`'s own. What JSON.stringify would make
 * of a Date through its toJSON is therefore never seen; everything else it serialises as
 * it always does (own enumerable keys, undefined dropped, other toJSON methods called).
 */
function withTaggedDates(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Date) {
    const ms = value.getTime();
    // As toISOString did: an invalid date is refused, not written as null (which would read back as 1970).
    if (Number.isNaN(ms)) throw new RangeError('Invalid time value');
    return { $date: ms };
  }
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      const tagged = withTaggedDates(item);
      if (tagged !== item) (copy ??= value.slice())[i] = tagged;
    }
    return copy ?? value;
  }
  // An object with its own toJSON decides its own form, as it would under JSON.stringify.
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return value;
  let copy: Record<string, unknown> | undefined;
  for (const key of Object.keys(value)) {
    const item = (value as Record<string, unknown>)[key];
    const tagged = withTaggedDates(item);
    if (tagged !== item) {
      copy ??= { ...(value as Record<string, unknown>) };
      // A key named __proto__ is data here, as it is to JSON: assigning would set a prototype.
      Object.defineProperty(copy, key, { value: tagged, enumerable: true, writable: true, configurable: true });
    }
  }
  return copy ?? value;
}

/** Turns `{ $date }` objects (and only objects of that one key) of freshly parsed JSON back into dates, in place. */
function withDates(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (item !== null && typeof item === 'object') {
        const revived = withDates(item);
        if (revived !== item) value[i] = revived;
      }
    }
    return value;
  }
  const object = value as Record<string, unknown>;
  const keys = Object.keys(object);
  if (keys.length === 1 && keys[0] === '$date') return new Date(object.$date as string | number);
  for (const key of keys) {
    const item = object[key];
    if (item !== null && typeof item === 'object') {
      const revived = withDates(item);
      if (revived !== item) Object.defineProperty(object, key, { value: revived, enumerable: true, writable: true, configurable: true });
    }
  }
  return object;
}
