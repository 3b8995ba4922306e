/**
 * A direct evaluator for the filters nearly every store call uses: equality, `$ne`, `$in`,
 * `$nin`, `$exists`, ranges and `$type: "number"` on plain field paths, joined by `$and` /
 * `$or`. Building a mingo Query copies its operator table and the filter itself, which was a
 * fourteenth of an ingested event's CPU on the embedded store for filters such as
 * `{ _id, status: "active" }`.
 *
 * It answers only where its answer is certainly mingo's (checked against mingo on generated
 * filters and documents in test/lib/simple-filter.test.ts): a filter of another shape is not
 * taken at all, and a document it cannot be sure of (an array or a sub-document where the
 * filter looks, values of differing types under a range) is answered `undefined`, left to mingo.
 */
import type { Filter } from './port.js';

/** true or false when certain; undefined when mingo must decide. */
export type SimpleTest = (doc: object) => boolean | undefined;

/** Neither a value nor missing: a place where the filter looks that this evaluator leaves to mingo. */
const UNSURE: unique symbol = Symbol('unsure');
type Found = unknown;

type Scalar = string | number | boolean | null | Date;

/** A value this evaluator compares itself: a string, a number that is not NaN, a boolean, null or a valid date. */
function isScalar(value: unknown): value is Scalar {
  if (value === null) return true;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return !Number.isNaN(value);
    case 'object':
      return value instanceof Date && !Number.isNaN(value.getTime());
    default:
      return false;
  }
}

const RANGE = new Set(['$lt', '$lte', '$gt', '$gte']);

/** Plain field path segments, or undefined for paths that may address arrays, operators or prototype members. */
function pathOf(field: string): string[] | undefined {
  if (field.length === 0 || field.startsWith('$')) return undefined;
  const segments = field.split('.');
  for (const s of segments) {
    if (s === '' || s.startsWith('$') || /^\d+$/.test(s) || s in Object.prototype) return undefined;
  }
  return segments;
}

/** A list of scalars where the filter looks: equality and membership then hold for any element, as in MongoDB. */
class ScalarList {
  constructor(readonly items: readonly Scalar[]) {}
}

/** The value at `segments`: undefined when missing, UNSURE where mingo must look (arrays, sub-documents, odd values). */
function lookup(doc: object, segments: readonly string[]): Found {
  let current: unknown = doc;
  for (let i = 0; i < segments.length; i++) {
    if (current === null || current === undefined) return undefined;
    if (typeof current !== 'object') return i === 0 ? UNSURE : undefined;
    if (Array.isArray(current) || current instanceof Date) return UNSURE;
    const proto: unknown = Object.getPrototypeOf(current);
    if (proto !== Object.prototype && proto !== null) return UNSURE;
    const key = segments[i]!;
    if (!Object.hasOwn(current, key)) return undefined;
    current = (current as Record<string, unknown>)[key];
    // A key present with an undefined value: missing to some readers, present to others.
    if (current === undefined) return UNSURE;
  }
  if (isScalar(current)) return current;
  // A profile's recentMessageIds, say: checked element by element. Lists of lists or documents are mingo's.
  if (Array.isArray(current) && Object.getPrototypeOf(current) === Array.prototype && current.every(isScalar)) return new ScalarList(current);
  return UNSURE;
}

function equals(value: Found, wanted: Scalar): boolean {
  if (value instanceof ScalarList) return value.items.some((item) => equals(item, wanted));
  if (wanted === null) return value === undefined || value === null;
  if (wanted instanceof Date) return value instanceof Date && value.getTime() === wanted.getTime();
  return value === wanted;
}

type Check = (value: Found) => boolean | undefined;

function rangeCheck(op: string, bound: string | number | Date): Check {
  const kind = bound instanceof Date ? 'date' : typeof bound;
  const b = bound instanceof Date ? bound.getTime() : bound;
  return (value) => {
    if (value === undefined) return false;
    if (value instanceof ScalarList) return undefined;
    const valueKind = value instanceof Date ? 'date' : typeof value;
    if (valueKind !== kind) return undefined;
    const v = value instanceof Date ? value.getTime() : (value as string | number);
    switch (op) {
      case '$lt':
        return v < b;
      case '$lte':
        return v <= b;
      case '$gt':
        return v > b;
      default:
        return v >= b;
    }
  };
}

/** One field's condition as checks that must all pass, or undefined when it is not a shape taken here. */
function conditionChecks(condition: unknown): Check[] | undefined {
  if (isScalar(condition)) return [(value) => equals(value, condition)];
  if (condition === null || typeof condition !== 'object' || Array.isArray(condition) || condition instanceof Date) return undefined;
  const proto: unknown = Object.getPrototypeOf(condition);
  if (proto !== Object.prototype && proto !== null) return undefined;
  const entries = Object.entries(condition);
  if (entries.length === 0) return undefined;
  const checks: Check[] = [];
  for (const [op, operand] of entries) {
    if (op === '$eq' || op === '$ne') {
      if (!isScalar(operand)) return undefined;
      checks.push(op === '$eq' ? (value) => equals(value, operand) : (value) => !equals(value, operand));
    } else if (op === '$in' || op === '$nin') {
      if (!Array.isArray(operand) || !operand.every(isScalar)) return undefined;
      const list = operand as Scalar[];
      checks.push(op === '$in' ? (value) => list.some((w) => equals(value, w)) : (value) => !list.some((w) => equals(value, w)));
    } else if (op === '$exists') {
      if (typeof operand !== 'boolean') return undefined;
      checks.push((value) => (value !== undefined) === operand);
    } else if (RANGE.has(op)) {
      if (!(typeof operand === 'string' || (typeof operand === 'number' && !Number.isNaN(operand)) || (operand instanceof Date && !Number.isNaN(operand.getTime())))) {
        return undefined;
      }
      checks.push(rangeCheck(op, operand));
    } else if (op === '$type') {
      if (operand !== 'number') return undefined;
      checks.push((value) => (value instanceof ScalarList ? undefined : typeof value === 'number'));
    } else {
      return undefined;
    }
  }
  return checks;
}

/**
 * Three-valued AND (`decisive` false) or OR (`decisive` true) of `tests` on `input`:
 * `decisive` as soon as one answers it; otherwise the other answer when every test was
 * sure, and undefined when one was not.
 */
function combine<A>(tests: ReadonlyArray<(input: A) => boolean | undefined>, input: A, decisive: boolean): boolean | undefined {
  let sure = true;
  for (const test of tests) {
    const r = test(input);
    if (r === decisive) return decisive;
    if (r === undefined) sure = false;
  }
  return sure ? !decisive : undefined;
}

/** The filter as a direct test, or undefined when it is not a shape taken here (mingo then evaluates it). */
export function compileSimpleFilter(filter: Filter): SimpleTest | undefined {
  if (filter === null || typeof filter !== 'object' || Array.isArray(filter)) return undefined;
  const tests: SimpleTest[] = [];
  for (const [key, condition] of Object.entries(filter)) {
    if (key === '$and' || key === '$or') {
      if (!Array.isArray(condition) || condition.length === 0) return undefined;
      const parts: SimpleTest[] = [];
      for (const part of condition) {
        const compiled = compileSimpleFilter(part as Filter);
        if (!compiled) return undefined;
        parts.push(compiled);
      }
      const decisive = key === '$or';
      tests.push((doc) => combine(parts, doc, decisive));
      continue;
    }
    const segments = pathOf(key);
    if (!segments) return undefined;
    const checks = conditionChecks(condition);
    if (!checks) return undefined;
    tests.push((doc) => {
      const value = lookup(doc, segments);
      return value === UNSURE ? undefined : combine(checks, value, false);
    });
  }
  return tests.length === 1 ? tests[0] : (doc) => combine(tests, doc, false);
}
