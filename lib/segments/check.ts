/**
 * Validates segment rules from the flow or from msg.segment. Rules become a store query, so
 * nothing in them may turn into an operator: every key is one the format names, every
 * trait path is a plain dotted name, values are scalars (or a list of scalars), numbers are
 * finite and counts and windows are bounded integers. A plain MongoDB filter is refused.
 */
import { checkEventName } from '../events/event.js';
import { RECENT_EVENT_TIMES } from '../profiles/profile.js';
import { checkObject, isPlainObject, keyProblem, type DocumentLimits, type JsonObject, type JsonValue } from '../validate/document.js';
import { accept, reject, type Checked } from '../validate/result.js';
import { parseRuleDate } from './dates.js';
import {
  EVENT_OPS,
  GROUP_MATCHES,
  RULE_KINDS,
  SEEN_OPS,
  SEEN_WHICH,
  SEGMENT_LIMITS,
  TRAIT_OPS,
  type ConsentRule,
  type EventRule,
  type RuleGroup,
  type SeenRule,
  type SegmentRule,
  type SegmentRules,
  type TraitRule,
} from './rules.js';

/**
 * Bounds for the first, generic pass over the input (keys, sizes, plain data only). Deep
 * enough for the deepest group the format allows, so that the structural pass below gets to
 * say what is wrong with too deep a group in its own words.
 */
const INPUT_LIMITS: DocumentLimits = {
  maxBytes: 64 * 1024,
  maxDepth: 2 * SEGMENT_LIMITS.maxDepth + 6,
  maxKeysPerObject: 16,
  maxArrayLength: SEGMENT_LIMITS.maxListItems,
  maxStringLength: SEGMENT_LIMITS.maxStringLength,
};

const FIELD_PATTERN = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
const MAX_FIELD_LENGTH = 200;
const MAX_FIELD_SEGMENTS = 10;
const RESERVED_SEGMENTS = new Set(['__proto__', 'constructor', 'prototype']);

const GROUP_SHAPE = '{"match": "all" | "any", "rules": [...]}';

export function checkSegmentRules(input: unknown): Checked<SegmentRules> {
  const notGroup = notAGroup(input);
  if (notGroup) return reject('BAD_RULE', notGroup);
  const copy = checkObject(input, 'segment', INPUT_LIMITS);
  if (!copy.ok) return copy;
  return checkGroup(copy.value, 'segment', 1, { entries: 0 });
}

/** Why the outermost value is not a rule group, with the likeliest mistakes named. */
function notAGroup(input: unknown): string | null {
  if (!isPlainObject(input)) return `segment: must be a rule group ${GROUP_SHAPE}, not ${typeName(input)}`;
  if ('match' in input || 'rules' in input) return null;
  if ('kind' in input) return `segment: a single rule must be wrapped in a group: {"match": "all", "rules": [rule]}`;
  return `segment: not a rule group: a segment is ${GROUP_SHAPE}; plain MongoDB filters are not accepted`;
}

function checkGroup(raw: JsonObject, path: string, depth: number, budget: { entries: number }): Checked<RuleGroup> {
  if (depth > SEGMENT_LIMITS.maxDepth) {
    return reject('TOO_DEEP', `${path}: groups nest deeper than ${SEGMENT_LIMITS.maxDepth} levels`);
  }
  const extra = unknownKey(raw, ['match', 'rules']);
  if (extra) return reject('BAD_RULE', `${path}: unknown key ${quote(extra)} in a group (a group has "match" and "rules")`);
  const match = oneOf(raw.match, GROUP_MATCHES);
  if (!match) return reject('BAD_RULE', `${path}: "match" must be "all" or "any", not ${quote(raw.match)}`);
  if (!Array.isArray(raw.rules)) return reject('BAD_RULE', `${path}: "rules" must be a list of rules and groups`);
  const rules: RuleGroup['rules'] = [];
  for (const [i, item] of raw.rules.entries()) {
    const at = `${path}.rules[${i}]`;
    budget.entries += 1;
    if (budget.entries > SEGMENT_LIMITS.maxRules) {
      return reject('TOO_LARGE', `${at}: a segment may hold at most ${SEGMENT_LIMITS.maxRules} rules and groups`);
    }
    if (!isPlainObject(item)) return reject('BAD_RULE', `${at}: must be a rule or a group, not ${typeName(item)}`);
    const entry = item as JsonObject;
    const isGroup = 'match' in entry || 'rules' in entry;
    if (isGroup && 'kind' in entry) return reject('BAD_RULE', `${at}: is both a group ("match", "rules") and a rule ("kind")`);
    const checked = isGroup ? checkGroup(entry, at, depth + 1, budget) : checkRule(entry, at);
    if (!checked.ok) return checked;
    rules.push(checked.value);
  }
  return accept({ match, rules });
}

function checkRule(raw: JsonObject, path: string): Checked<SegmentRule> {
  const kind = oneOf(raw.kind, RULE_KINDS);
  if (!kind) {
    return reject(
      'BAD_RULE',
      raw.kind === undefined
        ? `${path}: a rule needs "kind": one of ${RULE_KINDS.join(', ')}`
        : `${path}: unknown kind ${quote(raw.kind)}`,
    );
  }
  const allowed: Record<typeof kind, string[]> = {
    trait: ['kind', 'field', 'op', 'value', 'value2'],
    consent: ['kind', 'channel', 'granted'],
    event: ['kind', 'event', 'op', 'count', 'days'],
    seen: ['kind', 'which', 'op', 'days'],
  };
  const extra = unknownKey(raw, allowed[kind]);
  if (extra) return reject('BAD_RULE', `${path}: unknown key ${quote(extra)} in a ${kind} rule`);
  switch (kind) {
    case 'trait':
      return checkTraitRule(raw, path);
    case 'consent':
      return checkConsentRule(raw, path);
    case 'event':
      return checkEventRule(raw, path);
    case 'seen':
      return checkSeenRule(raw, path);
  }
}

function checkTraitRule(raw: JsonObject, path: string): Checked<TraitRule> {
  const field = raw.field;
  const reserved = typeof field === 'string' ? field.split('.').find((s) => RESERVED_SEGMENTS.has(s)) : undefined;
  if (reserved) return reject('BAD_RULE', `${path}: field ${quote(field)} names the reserved key ${quote(reserved)}`);
  if (typeof field !== 'string' || !isTraitPath(field)) {
    return reject(
      'BAD_RULE',
      `${path}: field ${quote(field)} must be a trait path: names of letters, digits, _ or - joined by "." (at most ${MAX_FIELD_SEGMENTS})`,
    );
  }
  const op = oneOf(raw.op, TRAIT_OPS);
  if (!op) return reject('BAD_RULE', `${path}: unknown op ${quote(raw.op)} for a trait rule`);
  const rule = (value?: JsonValue, value2?: JsonValue): Checked<TraitRule> =>
    accept({ kind: 'trait', field, op, ...(value === undefined ? {} : { value }), ...(value2 === undefined ? {} : { value2 }) });
  const bad = (why: string) => reject<TraitRule>('BAD_VALUE', `${path}: ${op} ${why}`);
  const { value, value2 } = raw;
  if (op !== 'between' && value2 !== undefined) return bad('takes no "value2"');

  switch (op) {
    case 'exists':
    case 'notExists':
      return value === undefined ? rule() : bad('takes no "value"');
    case 'eq':
    case 'ne': {
      const problem = scalarProblem(value);
      return problem ? bad(`needs a "value" that ${problem}`) : rule(value);
    }
    case 'in':
    case 'nin': {
      if (!Array.isArray(value) || value.length === 0) return bad('needs a "value" that is a non-empty list');
      for (const [i, item] of value.entries()) {
        const problem = scalarProblem(item);
        if (problem) return bad(`list item ${i} ${problem}`);
      }
      return rule(value);
    }
    case 'contains': {
      if (value === '') return bad('needs a "value" that is not empty');
      const problem = scalarProblem(value);
      return problem || value === null ? bad('needs a "value" that is a string, number or boolean') : rule(value);
    }
    case 'lt':
    case 'lte':
    case 'gt':
    case 'gte': {
      const problem = comparableProblem(value);
      return problem ? bad(`needs a "value" that ${problem}`) : rule(value);
    }
    case 'between': {
      const low = comparableProblem(value);
      if (low) return bad(`needs a "value" that ${low}`);
      const high = comparableProblem(value2);
      if (high) return bad(`needs a "value2" that ${high}`);
      if (typeof value !== typeof value2) return bad('needs "value" and "value2" of the same type (both numbers or both strings)');
      if ((value as number | string) > (value2 as number | string)) return bad('needs "value" no greater than "value2"');
      return rule(value, value2);
    }
    case 'before':
    case 'after':
      return typeof value === 'string' && parseRuleDate(value)
        ? rule(value)
        : bad(`needs a "value" that is a date: "YYYY-MM-DD" or an ISO 8601 date-time with a zone, not ${quote(value)}`);
    case 'withinLastDays': {
      const problem = integerProblem(value, 1, SEGMENT_LIMITS.maxDays);
      return problem ? bad(`needs a "value" (days) that ${problem}`) : rule(value);
    }
  }
}

function checkConsentRule(raw: JsonObject, path: string): Checked<ConsentRule> {
  const channel = raw.channel;
  if (typeof channel !== 'string') return reject('BAD_RULE', `${path}: a consent rule needs "channel", a channel name`);
  const problem = keyProblem(channel);
  if (problem) return reject('BAD_RULE', `${path}: "channel" is ${problem}`);
  if (typeof raw.granted !== 'boolean') return reject('BAD_VALUE', `${path}: "granted" must be true or false`);
  return accept({ kind: 'consent', channel, granted: raw.granted });
}

function checkEventRule(raw: JsonObject, path: string): Checked<EventRule> {
  const name = checkEventName(raw.event);
  if (!name.ok) return reject('BAD_RULE', `${path}: ${raw.event === undefined ? 'an event rule needs "event"' : name.reason}`);
  const op = oneOf(raw.op, EVENT_OPS);
  if (!op) return reject('BAD_RULE', `${path}: unknown op ${quote(raw.op)} for an event rule`);
  const { count, days } = raw;
  if (days !== undefined) {
    const problem = integerProblem(days, 1, SEGMENT_LIMITS.maxDays);
    if (problem) return reject('BAD_VALUE', `${path}: "days" ${problem}`);
  }
  const windowed = days !== undefined;
  const rule = (withCount: boolean): Checked<EventRule> =>
    accept({
      kind: 'event',
      event: name.value,
      op,
      ...(withCount ? { count: count as number } : {}),
      ...(windowed ? { days: days as number } : {}),
    });
  if (op === 'did' || op === 'notDid') {
    return count === undefined ? rule(false) : reject('BAD_RULE', `${path}: ${op} takes no "count" (use atLeast or atMost)`);
  }
  // A window is answered from the times of the latest occurrences a profile keeps, so a
  // windowed count can ask for no more of them than are kept.
  const [min, max] =
    op === 'atLeast'
      ? [1, windowed ? RECENT_EVENT_TIMES : SEGMENT_LIMITS.maxCount]
      : [0, windowed ? RECENT_EVENT_TIMES - 1 : SEGMENT_LIMITS.maxCount];
  const problem = integerProblem(count, min, max);
  if (problem) {
    const why = windowed && Number.isInteger(count) && (count as number) > max ? ` (within "days", a profile keeps the times of its latest ${RECENT_EVENT_TIMES} occurrences of each event)` : '';
    return reject('BAD_VALUE', `${path}: ${op} needs a "count" that ${problem}${why}`);
  }
  return rule(true);
}

function checkSeenRule(raw: JsonObject, path: string): Checked<SeenRule> {
  const which = oneOf(raw.which, SEEN_WHICH);
  if (!which) return reject('BAD_RULE', `${path}: "which" must be "first" or "last", not ${quote(raw.which)}`);
  const op = oneOf(raw.op, SEEN_OPS);
  if (!op) return reject('BAD_RULE', `${path}: unknown op ${quote(raw.op)} for a seen rule`);
  const problem = integerProblem(raw.days, 1, SEGMENT_LIMITS.maxDays);
  if (problem) return reject('BAD_VALUE', `${path}: "days" ${problem}`);
  return accept({ kind: 'seen', which, op, days: raw.days as number });
}

function isTraitPath(field: string): boolean {
  if (field.length > MAX_FIELD_LENGTH || !FIELD_PATTERN.test(field)) return false;
  const segments = field.split('.');
  return segments.length <= MAX_FIELD_SEGMENTS && !segments.some((s) => RESERVED_SEGMENTS.has(s));
}

/** Why `value` cannot be compared as a single value, or null. */
function scalarProblem(value: JsonValue | undefined): string | null {
  if (value === undefined) return 'is missing';
  if (typeof value === 'string') return value.includes('\u0000') ? 'contains a NUL character' : null;
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return null;
  return 'is a string, number, boolean or null (not a list or object)';
}

function comparableProblem(value: JsonValue | undefined): string | null {
  if (typeof value !== 'string' && typeof value !== 'number') return 'is a number or a string';
  return scalarProblem(value);
}

function integerProblem(value: JsonValue | undefined, min: number, max: number): string | null {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    return `must be a whole number from ${min} to ${max}, not ${quote(value)}`;
  }
  return null;
}

function oneOf<T extends string>(value: unknown, options: readonly T[]): T | null {
  return typeof value === 'string' && (options as readonly string[]).includes(value) ? (value as T) : null;
}

function unknownKey(raw: JsonObject, allowed: string[]): string | undefined {
  return Object.keys(raw).find((key) => !allowed.includes(key));
}

function quote(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'a non-plain object' : `a ${typeof value}`;
}
