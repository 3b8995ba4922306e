/** When a wait ends: after a duration, at a date, or at the next local time of day in a zone. */

export const UNIT_MS = { seconds: 1000, minutes: 60_000, hours: 3_600_000, days: 86_400_000 } as const;
export type DurationUnit = keyof typeof UNIT_MS;

export function isDurationUnit(value: unknown): value is DurationUnit {
  return typeof value === 'string' && value in UNIT_MS;
}

export function afterDuration(now: Date, amount: number, unit: DurationUnit): Date {
  if (!Number.isFinite(amount) || amount < 0) throw new RangeError(`a wait of ${amount} ${unit} is not a duration`);
  return new Date(now.getTime() + amount * UNIT_MS[unit]);
}

/** A date from msg or profile data: a Date, an ISO 8601 string or milliseconds. */
export function parseDate(value: unknown): Date | null {
  const date =
    value instanceof Date ? new Date(value.getTime()) : typeof value === 'number' || typeof value === 'string' ? new Date(value) : null;
  return date && !Number.isNaN(date.getTime()) ? date : null;
}

/**
 * One formatter per zone: building an Intl.DateTimeFormat is slow (it stood out in the
 * soak's profile) and every send and wait asks. Only valid zones are kept, and there are a
 * few hundred of those.
 */
const formats = new Map<string, Intl.DateTimeFormat>();

function zoneFormat(zone: string): Intl.DateTimeFormat | null {
  let format = formats.get(zone);
  if (!format) {
    try {
      format = new Intl.DateTimeFormat('en-US', {
        timeZone: zone,
        hourCycle: 'h23',
        year: 'numeric',
        month: '2-digit',
        day: '2-digit',
        hour: '2-digit',
        minute: '2-digit',
        second: '2-digit',
      });
    } catch {
      return null;
    }
    formats.set(zone, format);
  }
  return format;
}

export function isTimeZone(zone: string): boolean {
  return zoneFormat(zone) !== null;
}

/** The zone's offset from UTC at `at`, in ms (positive east of Greenwich). */
function zoneOffsetMs(zone: string, at: Date): number {
  const format = zoneFormat(zone);
  if (!format) throw new RangeError(`unknown time zone ${JSON.stringify(zone)}`);
  const parts = format.formatToParts(at);
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value);
  const asUtc = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  return asUtc - Math.floor(at.getTime() / 1000) * 1000;
}

/** The wall-clock date (y, m, d) in `zone` at `at`. */
function localDate(zone: string, at: Date): { year: number; month: number; day: number } {
  const shifted = new Date(at.getTime() + zoneOffsetMs(zone, at));
  return { year: shifted.getUTCFullYear(), month: shifted.getUTCMonth(), day: shifted.getUTCDate() };
}

/**
 * The next instant after `now` at which the clock in `zone` shows `time` ("HH:MM").
 * Across a DST change the offset is taken at the target time, so 09:00 stays 09:00 local.
 */
export function nextTimeOfDay(now: Date, time: string, zone: string): Date {
  const match = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(time);
  if (!match) throw new RangeError(`time of day ${JSON.stringify(time)} must be HH:MM (24 h)`);
  if (!isTimeZone(zone)) throw new RangeError(`unknown time zone ${JSON.stringify(zone)}`);
  const [hours, minutes] = [Number(match[1]), Number(match[2])];
  const today = localDate(zone, now);
  for (let addDays = 0; addDays < 3; addDays++) {
    const wall = Date.UTC(today.year, today.month, today.day + addDays, hours, minutes);
    let instant = wall - zoneOffsetMs(zone, new Date(wall));
    instant = wall - zoneOffsetMs(zone, new Date(instant)); // settle the offset at the target itself
    if (instant > now.getTime()) return new Date(instant);
  }
  throw new Error('no next time of day found'); // unreachable: tomorrow always comes
}

/** Minutes since local midnight in `zone` at `at` (0–1439). */
export function minutesOfDay(at: Date, zone: string): number {
  const shifted = new Date(at.getTime() + zoneOffsetMs(zone, at));
  return shifted.getUTCHours() * 60 + shifted.getUTCMinutes();
}

/** "HH:MM" (24 h) as minutes since midnight, or null when it is not such a time. */
export function parseTimeOfDay(time: string): number | null {
  const match = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(time);
  return match ? Number(match[1]) * 60 + Number(match[2]) : null;
}
