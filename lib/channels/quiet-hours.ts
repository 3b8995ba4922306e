/** Quiet hours: a daily window, in the profile's own time zone, in which nothing is sent. */
import { isTimeZone, minutesOfDay, nextTimeOfDay, parseTimeOfDay } from '../journeys/wait-time.js';

export interface QuietHours {
  /** "HH:MM": when the quiet starts, local time. */
  start: string;
  /** "HH:MM": when sending may resume. May be earlier than start (overnight). */
  end: string;
}

/** Null when the settings are usable, else why not. */
export function quietHoursProblem(quiet: QuietHours): string | null {
  if (parseTimeOfDay(quiet.start) === null) return `quiet hours start ${JSON.stringify(quiet.start)} must be HH:MM (24 h)`;
  if (parseTimeOfDay(quiet.end) === null) return `quiet hours end ${JSON.stringify(quiet.end)} must be HH:MM (24 h)`;
  if (quiet.start === quiet.end) return 'quiet hours start and end are the same time';
  return null;
}

/** When a send at `now` may go out: null if now, else the end of the quiet window in `zone`. */
export function quietUntil(now: Date, quiet: QuietHours, zone: string): Date | null {
  if (!isTimeZone(zone)) throw new RangeError(`unknown time zone ${JSON.stringify(zone)}`);
  const start = parseTimeOfDay(quiet.start);
  const end = parseTimeOfDay(quiet.end);
  if (start === null || end === null) throw new RangeError(quietHoursProblem(quiet) ?? 'bad quiet hours');
  const minute = minutesOfDay(now, zone);
  const quietNow = start < end ? minute >= start && minute < end : minute >= start || minute < end;
  return quietNow ? nextTimeOfDay(now, quiet.end, zone) : null;
}
