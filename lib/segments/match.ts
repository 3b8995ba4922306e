/** One profile against segment rules, in process, with the filter the store would run. */
import type { Profile } from '../profiles/profile.js';
import { compileFilter } from '../store/filter-engine.js';
import { compileSegment } from './compile.js';
import type { SegmentRules } from './rules.js';

/** Dates on `profile` must be Date objects, as the store returns them. */
export function profileMatches(profile: Profile, rules: SegmentRules, now: Date): boolean {
  return compileFilter(compileSegment(rules, now)).test(profile);
}
