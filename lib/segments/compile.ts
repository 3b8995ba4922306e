/**
 * Compiles checked segment rules to ONE MongoDB filter over the profiles collection, with
 * relative dates resolved against `now`. The same filter is what the store runs (audience
 * mode) and what profileMatches evaluates in process, so the two cannot disagree.
 *
 * Shapes are chosen to mean the same on MongoDB, on the embedded store (mingo) and on the
 * MongoDB-wire test servers:
 * - `$regex` always stands alone in its condition: mongo-java-server ignores the other
 *   operators beside it, and matches non-strings by their text, so a regex is only applied
 *   after separate conditions have established a single string;
 * - `$type: "string"` is paired with "not an array": MongoDB matches an array holding a
 *   string, mingo does not;
 * - negations are `$nor`, `$ne` or `$not`, which match a missing field, as MongoDB does;
 * - each bound of a range is a condition of its own (`$and` of `$gte` and `$lte`): on a list,
 *   MongoDB and mingo let different items meet the two bounds of `{$gte, $lte}`, while
 *   mongo-java-server wants one item to meet both; separate conditions mean the same on all;
 * - no `$expr`, `$where` or `$function`: rules never become code on the server.
 */
import type { Filter } from '../store/port.js';
import type { JsonValue } from '../validate/document.js';
import type { RejectCode } from '../validate/result.js';
import { checkSegmentRules } from './check.js';
import { daysBefore, ISO_DATE_TEXT, ISO_SECONDS_TEXT, parseRuleDate, secondsBound, textBound, type Comparison } from './dates.js';
import { isGroup, type ConsentRule, type EventRule, type RuleGroup, type SeenRule, type SegmentRule, type SegmentRules, type TraitRule } from './rules.js';

export class SegmentRuleError extends Error {
  constructor(
    message: string,
    readonly code: RejectCode,
  ) {
    super(message);
    this.name = 'SegmentRuleError';
  }
}

/** A profile merged into another holds nothing of its own any more: never in a segment. */
export const LIVE_PROFILE: Filter = { mergedInto: { $exists: false } };

/** Matches no document: `$or` and `$and` may not be empty in MongoDB. */
const NOTHING: Filter = { _id: { $in: [] } };

/**
 * Throws SegmentRuleError when `rules` do not pass checkSegmentRules: typed callers get the
 * same protection as a msg, and the filter is built from the checked copy only.
 */
export function compileSegment(rules: SegmentRules, now: Date): Filter {
  if (!(now instanceof Date) || Number.isNaN(now.getTime())) throw new RangeError('compileSegment needs a valid `now`');
  const checked = checkSegmentRules(rules);
  if (!checked.ok) throw new SegmentRuleError(checked.reason, checked.code);
  return { ...LIVE_PROFILE, ...compileGroup(checked.value, now) };
}

function compileGroup(group: RuleGroup, now: Date): Filter {
  const parts = group.rules.map((entry) => (isGroup(entry) ? compileGroup(entry, now) : compileRule(entry, now)));
  if (parts.length === 0) return group.match === 'all' ? {} : NOTHING;
  if (parts.length === 1) return parts[0] as Filter;
  return { [group.match === 'all' ? '$and' : '$or']: parts };
}

function compileRule(rule: SegmentRule, now: Date): Filter {
  switch (rule.kind) {
    case 'trait':
      return compileTrait(rule, now);
    case 'consent':
      return compileConsent(rule);
    case 'event':
      return compileEvent(rule, now);
    case 'seen':
      return compileSeen(rule, now);
  }
}

function compileTrait(rule: TraitRule, now: Date): Filter {
  const path = `traits.${rule.field}`;
  const on = (condition: unknown): Filter => ({ [path]: condition });
  const value = rule.value as JsonValue;
  switch (rule.op) {
    // $eq spelled out: a bare object value would be read as operators.
    case 'eq':
      return on({ $eq: value });
    case 'ne':
      return on({ $ne: value });
    case 'in':
      return on({ $in: value });
    case 'nin':
      return on({ $nin: value });
    case 'exists':
      return on({ $ne: null });
    case 'notExists':
      return on({ $eq: null });
    case 'lt':
    case 'lte':
    case 'gt':
    case 'gte':
      return on({ [`$${rule.op}`]: value });
    case 'between':
      // A list matches when it holds an item >= value and an item <= value2 (MongoDB's meaning).
      return { $and: [on({ $gte: value }), on({ $lte: rule.value2 })] };
    case 'contains':
      if (typeof value !== 'string') return on({ $eq: value });
      return {
        $or: [
          { $and: [...singleString(path), on({ $regex: escapeRegex(value), $options: 'i' })] },
          on({ $eq: value }),
        ],
      };
    case 'before':
      return compareDate(path, [['$lt', ruleDate(value)]]);
    case 'after':
      return compareDate(path, [['$gt', ruleDate(value)]]);
    case 'withinLastDays':
      return compareDate(path, [
        ['$gte', daysBefore(now, value as number)],
        ['$lte', now],
      ]);
  }
}

/** The value at `path` is one string: not a list, whatever its items. */
const singleString = (path: string): Filter[] => [{ [path]: { $not: { $type: 'array' } } }, { [path]: { $type: 'string' } }];

/**
 * A single date trait against bounds: a Date compares as a date, a string in one of the two
 * ISO forms of dates.ts as text, with bounds written for its form. Every bound is a condition
 * of its own (see the header).
 */
function compareDate(path: string, bounds: Array<[Comparison, Date]>): Filter {
  const each = (bound: (at: Date, comparison: Comparison) => Date | string): Filter[] =>
    bounds.map(([comparison, at]) => ({ [path]: { [comparison]: bound(at, comparison) } }));
  const text = (pattern: string, bound: (at: Date, comparison: Comparison) => string): Filter => ({
    $and: [{ [path]: { $type: 'string' } }, { [path]: { $regex: pattern } }, ...each(bound)],
  });
  return {
    $and: [
      { [path]: { $not: { $type: 'array' } } },
      {
        $or: [
          { $and: [{ [path]: { $type: 'date' } }, ...each((at) => at)] },
          text(ISO_DATE_TEXT, textBound),
          text(ISO_SECONDS_TEXT, secondsBound),
        ],
      },
    ],
  };
}

function ruleDate(value: JsonValue): Date {
  const at = typeof value === 'string' ? parseRuleDate(value) : null;
  if (!at) throw new SegmentRuleError(`not a date: ${JSON.stringify(value)}`, 'BAD_VALUE'); // checked before: unreachable
  return at;
}

function compileConsent(rule: ConsentRule): Filter {
  const path = `consent.${rule.channel}.status`;
  return { [path]: rule.granted ? { $eq: 'granted' } : { $ne: 'granted' } };
}

function compileEvent(rule: EventRule, now: Date): Filter {
  const base = `aggregates.${rule.event}`;
  const cutoff = rule.days === undefined ? null : daysBefore(now, rule.days);
  // `recent` is newest first, so the n-th newest occurrence inside the window means at least n in it.
  const atLeast = (n: number): Filter =>
    cutoff ? { [`${base}.recent.${n - 1}`]: { $gte: cutoff } } : { [`${base}.count`]: { $gte: n } };
  const did = (): Filter => (cutoff ? { [`${base}.last`]: { $gte: cutoff } } : { [`${base}.count`]: { $gte: 1 } });
  switch (rule.op) {
    case 'atLeast':
      return atLeast(rule.count as number);
    case 'atMost':
      return { $nor: [atLeast((rule.count as number) + 1)] };
    case 'did':
      return did();
    case 'notDid':
      return { $nor: [did()] };
  }
}

function compileSeen(rule: SeenRule, now: Date): Filter {
  const within = { [rule.which === 'first' ? 'createdAt' : 'updatedAt']: { $gte: daysBefore(now, rule.days) } };
  return rule.op === 'withinLastDays' ? within : { $nor: [within] };
}

/** Text matched literally by a regex, the same in JavaScript, PCRE (MongoDB) and Java. */
export function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
