/**
 * JSON with dates kept as dates. Journal lines must round-trip `Date` values, or range
 * queries on timestamps would compare strings after a restart. Stored documents never hold
 * keys starting with `$` (lib/validate rejects them), so `{ "$date": … }` is unambiguous.
 */
import type { Doc } from '../port.js';

export type JournalRecord =
  | { c: string; put: Doc }
  | { c: string; del: string };

export function encodeRecord(record: JournalRecord): string {
  return (
    JSON.stringify(record, function (this: Record<string, unknown>, key: string, value: unknown) {
      const raw = this[key];
      return raw instanceof Date ? { $date: raw.toISOString() } : value;
    }) + '\n'
  );
}

export function decodeRecord(line: string): JournalRecord {
  return JSON.parse(line, (_key, value: unknown) => {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const entries = Object.keys(value);
      if (entries.length === 1 && entries[0] === '$date') {
        return new Date((value as { $date: string }).$date);
      }
    }
    return value;
  }) as JournalRecord;
}
