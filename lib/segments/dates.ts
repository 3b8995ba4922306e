/**
 * Dates in segment rules: the dates a rule names, windows relative to `now`, and how a
 * date trait stored as text is compared. Traits arrive as JSON, so a date trait is usually
 * an ISO 8601 string; one written by code may be a real Date. A filter therefore compares
 * both: Dates as dates, and strings as text against a bound written so that text order and
 * time order agree for `YYYY-MM-DD` and for the UTC form `toISOString()` writes.
 */

export const DAY_MS = 86_400_000;

const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d)(?:\.\d{1,3})?)?(Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)$/;

/**
 * The stored strings compared as dates, in two forms whose text order is their time order:
 * `YYYY-MM-DD` together with the UTC form `toISOString()` writes (`…THH:MM:SS.mmmZ`), and
 * the UTC form without milliseconds (`…THH:MM:SSZ`), which gets bounds of its own. Other
 * text (a zone offset such as `+02:00`, no seconds, or "pro", which sorts after every date)
 * is not a date to a rule: compared as text it would give wrong answers.
 */
export const ISO_DATE_TEXT = '^\\d{4}-\\d\\d-\\d\\d(T\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z)?$';
export const ISO_SECONDS_TEXT = '^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ$';

/**
 * A date a rule names: `YYYY-MM-DD` (midnight UTC) or a date-time with a zone (`Z` or
 * `±HH:MM`). A date-time without a zone is refused: it would mean the server's local time.
 */
export function parseRuleDate(text: string): Date | null {
  const match = DATE_ONLY.exec(text) ?? DATE_TIME.exec(text);
  if (!match) return null;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const calendar = new Date(Date.UTC(year, month - 1, day));
  // Date.UTC rolls 2026-02-30 over into March; a real calendar day survives unchanged.
  if (calendar.getUTCFullYear() !== year || calendar.getUTCMonth() !== month - 1 || calendar.getUTCDate() !== day) return null;
  const at = new Date(text);
  return Number.isNaN(at.getTime()) ? null : at;
}

export const daysBefore = (now: Date, days: number): Date => new Date(now.getTime() - days * DAY_MS);

export type Comparison = '$lt' | '$lte' | '$gt' | '$gte';

/**
 * The string a text date is compared with. A date-only string sorts before every
 * date-time of its day, so it reads as that day's midnight, except against a bound at
 * exactly midnight: there `$lt`/`$gte` compare with the date alone ("2026-06-01" is not
 * before 2026-06-01T00:00Z), while `$gt`/`$lte` already order it right against the full form.
 */
export function textBound(at: Date, comparison: Comparison): string {
  const iso = at.toISOString();
  const midnight = iso.endsWith('T00:00:00.000Z');
  return midnight && (comparison === '$lt' || comparison === '$gte') ? iso.slice(0, 10) : iso;
}

/**
 * The bound for a string in the whole-second form `YYYY-MM-DDTHH:MM:SSZ`, which sorts after
 * every millisecond form of its second ("…00Z" > "…00.500Z"), so it gets a bound of its own
 * form: the bound's second rounded the way that keeps the comparison exact.
 */
export function secondsBound(at: Date, comparison: Comparison): string {
  const ms = at.getTime();
  const second = comparison === '$lt' || comparison === '$gte' ? Math.ceil(ms / 1000) : Math.floor(ms / 1000);
  return `${new Date(second * 1000).toISOString().slice(0, 19)}Z`;
}
