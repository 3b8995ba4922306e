/** A one-line summary of segment rules, for the segment node's label and status badge. */
import { isGroup, type EventRule, type RuleGroup, type SegmentRule, type SegmentRules, type TraitRule } from './rules.js';

const JOIN = { all: ' AND ', any: ' OR ' } as const;

/** E.g. `plan = "pro" AND did cart_add ≥2× in 7d`; cut to `maxLength` with "…". */
export function describeSegment(rules: SegmentRules, maxLength = 100): string {
  const text = describeGroup(rules, true);
  return text.length > maxLength ? `${text.slice(0, Math.max(0, maxLength - 1))}…` : text;
}

function describeGroup(group: RuleGroup, outermost: boolean): string {
  if (group.rules.length === 0) return group.match === 'all' ? 'everyone' : 'no one';
  const parts = group.rules.map((entry) => (isGroup(entry) ? describeGroup(entry, false) : describeRule(entry)));
  const text = parts.join(JOIN[group.match]);
  return outermost || parts.length === 1 ? text : `(${text})`;
}

function describeRule(rule: SegmentRule): string {
  switch (rule.kind) {
    case 'trait':
      return describeTrait(rule);
    case 'consent':
      return `${rule.channel} consent ${rule.granted ? 'granted' : 'not granted'}`;
    case 'event':
      return describeEvent(rule);
    case 'seen':
      return `${rule.which} seen ${rule.op === 'withinLastDays' ? 'in' : 'not in'} ${rule.days}d`;
  }
}

function describeEvent(rule: EventRule): string {
  const window = rule.days === undefined ? '' : ` in ${rule.days}d`;
  switch (rule.op) {
    case 'atLeast':
      return `did ${rule.event} ≥${rule.count}×${window}`;
    case 'atMost':
      return `did ${rule.event} ≤${rule.count}×${window}`;
    case 'did':
      return `did ${rule.event}${window}`;
    case 'notDid':
      return `did not ${rule.event}${window}`;
  }
}

const SYMBOLS: Partial<Record<TraitRule['op'], string>> = {
  eq: '=',
  ne: '≠',
  lt: '<',
  lte: '≤',
  gt: '>',
  gte: '≥',
  in: 'in',
  nin: 'not in',
  contains: 'contains',
  before: 'before',
  after: 'after',
};

function describeTrait(rule: TraitRule): string {
  const value = show(rule.value);
  switch (rule.op) {
    case 'exists':
      return `${rule.field} is set`;
    case 'notExists':
      return `${rule.field} is not set`;
    case 'between':
      return `${rule.field} ${value}..${show(rule.value2)}`;
    case 'withinLastDays':
      return `${rule.field} in last ${value}d`;
    default:
      return `${rule.field} ${SYMBOLS[rule.op] ?? rule.op} ${value}`;
  }
}

function show(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(show).join(', ')}]`;
  return typeof value === 'string' || value === null ? JSON.stringify(value) : String(value);
}
