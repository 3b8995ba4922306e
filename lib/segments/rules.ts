/**
 * The segment rule format: what the segment node's rule builder saves in the flow and what
 * a msg may carry in msg.segment. Plain JSON, so it survives export and import; compiled to
 * one MongoDB filter by compile.ts, never passed to a store as it is.
 */
import type { JsonValue } from '../validate/document.js';

export type SegmentRules = RuleGroup;

/** `all`: every entry must hold (AND); `any`: at least one (OR). Groups nest. */
export interface RuleGroup {
  match: GroupMatch;
  rules: Array<SegmentRule | RuleGroup>;
}

export type SegmentRule = TraitRule | ConsentRule | EventRule | SeenRule;

/** A condition on `profile.traits.<field>`; `field` may be a dotted path (`address.country`). */
export interface TraitRule {
  kind: 'trait';
  field: string;
  op: TraitOp;
  value?: JsonValue;
  /** The upper bound of `between`. */
  value2?: JsonValue;
}

/** Whether the profile holds a granted consent decision for the channel. */
export interface ConsentRule {
  kind: 'consent';
  channel: string;
  granted: boolean;
}

/** A condition on `profile.aggregates.<event>`; `days` limits it to the last `days` × 24 h. */
export interface EventRule {
  kind: 'event';
  event: string;
  op: EventOp;
  count?: number;
  days?: number;
}

/** first: when the profile was created; last: when anything about it last changed. */
export interface SeenRule {
  kind: 'seen';
  which: 'first' | 'last';
  op: SeenOp;
  days: number;
}

export const GROUP_MATCHES = ['all', 'any'] as const;
export type GroupMatch = (typeof GROUP_MATCHES)[number];

export const TRAIT_OPS = [
  'eq',
  'ne',
  'in',
  'nin',
  'contains',
  'exists',
  'notExists',
  'lt',
  'lte',
  'gt',
  'gte',
  'between',
  'before',
  'after',
  'withinLastDays',
] as const;
export type TraitOp = (typeof TRAIT_OPS)[number];

export const EVENT_OPS = ['atLeast', 'atMost', 'did', 'notDid'] as const;
export type EventOp = (typeof EVENT_OPS)[number];

export const SEEN_OPS = ['withinLastDays', 'notWithinLastDays'] as const;
export type SeenOp = (typeof SEEN_OPS)[number];

export const SEEN_WHICH = ['first', 'last'] as const;

export const RULE_KINDS = ['trait', 'consent', 'event', 'seen'] as const;

/** Bounds on a rule set, so a msg cannot hand the store an unbounded query. */
export const SEGMENT_LIMITS = {
  /** Group nesting, counting the outermost group. */
  maxDepth: 5,
  /** Rules and groups in all, below the outermost group. */
  maxRules: 100,
  /** Values of an `in` / `nin` list. */
  maxListItems: 100,
  maxStringLength: 1000,
  /** A window or age of up to ten years. */
  maxDays: 3650,
  /** The largest count an event rule without `days` may name. */
  maxCount: 1_000_000,
} as const;

export const isGroup = (entry: SegmentRule | RuleGroup): entry is RuleGroup => 'match' in entry;
