/**
 * The embedded store's fast path for the updates nearly every write is: `$set`, `$unset`,
 * `$inc`, `$min`, `$max` (of dates, numbers or strings against the same kind), `$addToSet`
 * of one scalar, and `$push`
 * (one value, or `$each` with `$slice` and a plain `$sort`, as an event is counted on a
 * profile) of plain field paths through plain objects. mingo's updater builds a fresh
 * operator context (copying its query and expression tables) for each update, which was the
 * largest single cost of a wait's resume at thousands a second; and a whole-document deep
 * copy per write was the next. Here the new version copies only the objects on the changed
 * paths and shares the rest with the stored version, which no one mutates.
 *
 * Anything else (other operators, `$push` with `$position` or a sort by field, array positions,
 * `$` paths, a path through a non-object, overlapping paths, `$inc` of a non-number) returns undefined, and mingo applies the update
 * with its full MongoDB semantics, errors included.
 */
import { isDeepStrictEqual } from 'node:util';
import { deepCopy } from './copy.js';

type Plain = Record<string, unknown>;

const PLAIN_OPERATORS = new Set(['$set', '$unset', '$inc', '$push', '$addToSet', '$min', '$max']);

export function isPlainObject(value: unknown): value is Plain {
  if (value === null || typeof value !== 'object') return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** A path's segments, or undefined when a segment may address an array or an operator. */
function segmentsOf(path: string): string[] | undefined {
  const segments = path.split('.');
  for (const s of segments) if (s === '' || s.startsWith('$') || /^\d+$/.test(s) || s === '__proto__') return undefined;
  return segments;
}

/** Two paths overlap when one is the other or leads into it: MongoDB refuses such an update. */
function overlaps(paths: readonly string[]): boolean {
  const sorted = [...paths].sort();
  for (let i = 1; i < sorted.length; i++) {
    const [a, b] = [sorted[i - 1]!, sorted[i]!];
    if (a === b || b.startsWith(`${a}.`)) return true;
  }
  return false;
}

/** What a date, a number or a string is compared as; undefined for any other value. */
function comparable(value: unknown): 'date' | 'number' | 'string' | undefined {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : 'date';
  if (typeof value === 'number') return Number.isNaN(value) ? undefined : 'number';
  return typeof value === 'string' ? 'string' : undefined;
}

/** -1, 0 or 1 for two values of one comparable kind; undefined otherwise (MongoDB then orders by type, left to mingo). */
function compareSame(a: unknown, b: unknown): -1 | 0 | 1 | undefined {
  const kind = comparable(a);
  if (kind === undefined || comparable(b) !== kind) return undefined;
  const [x, y] = kind === 'date' ? [(a as Date).getTime(), (b as Date).getTime()] : [a as number | string, b as number | string];
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * `$push` with `$each` and optionally `$slice` and `$sort: 1 | -1`, as profiles keep their
 * latest messageIds and event times: the list grown, sorted when all of it is of one
 * comparable kind, then cut. Undefined for other modifiers (`$position`, a sort by field).
 */
function boundedPush(spec: Plain): Change['apply'] | undefined {
  const { $each: each, $slice: slice, $sort: sort, ...rest } = spec;
  if (Object.keys(rest).length > 0 || !Array.isArray(each)) return undefined;
  if (slice !== undefined && !Number.isInteger(slice)) return undefined;
  if (sort !== undefined && sort !== 1 && sort !== -1) return undefined;
  return (previous, present) => {
    if (!present) {
      // mingo stores $each as given for a new list; MongoDB sorts and cuts it: where the two differ, mingo decides as before.
      if (each.length > 1 || slice === 0) return undefined;
      return { value: each.map((item) => deepCopy(item)), keep: true };
    }
    if (!Array.isArray(previous)) return undefined;
    let list = [...(previous as unknown[]), ...each.map((item) => deepCopy(item))];
    if (sort !== undefined) {
      const kind = list.length > 0 ? comparable(list[0]) : undefined;
      if (list.length > 0 && (kind === undefined || !list.every((item) => comparable(item) === kind))) return undefined;
      list.sort((a, b) => sort * compareSame(a, b)!);
    }
    if (typeof slice === 'number') list = slice < 0 ? list.slice(Math.max(0, list.length + slice)) : list.slice(0, slice);
    return { value: list, keep: true };
  };
}

interface Change {
  segments: string[];
  apply(previous: unknown, present: boolean): { value: unknown; keep: boolean } | undefined;
}

function changesOf(modifier: Record<string, unknown>): Change[] | undefined {
  const changes: Change[] = [];
  const paths: string[] = [];
  for (const [operator, fields] of Object.entries(modifier)) {
    if (!PLAIN_OPERATORS.has(operator) || !isPlainObject(fields)) return undefined;
    for (const [path, operand] of Object.entries(fields)) {
      const segments = segmentsOf(path);
      if (!segments) return undefined;
      paths.push(path);
      if (operator === '$set') changes.push({ segments, apply: () => ({ value: deepCopy(operand), keep: true }) });
      else if (operator === '$unset') changes.push({ segments, apply: () => ({ value: undefined, keep: false }) });
      else if (operator === '$push') {
        if (isPlainObject(operand) && Object.keys(operand).some((k) => k.startsWith('$'))) {
          const bounded = boundedPush(operand);
          if (!bounded) return undefined;
          changes.push({ segments, apply: bounded });
          continue;
        }
        changes.push({
          segments,
          apply: (previous, present) => {
            if (!present) return { value: [deepCopy(operand)], keep: true };
            return Array.isArray(previous) ? { value: [...previous, deepCopy(operand)], keep: true } : undefined;
          },
        });
      } else if (operator === '$addToSet') {
        // One string, boolean or finite number, as a profile gains an identity; `$each` and values with structure go to mingo.
        // (-0 too: mingo stores it as 0.)
        if (!(typeof operand === 'string' || typeof operand === 'boolean' || (typeof operand === 'number' && Number.isFinite(operand) && !Object.is(operand, -0)))) return undefined;
        changes.push({
          segments,
          apply: (previous, present) => {
            if (!present) return { value: [operand], keep: true };
            if (!Array.isArray(previous)) return undefined;
            return { value: previous.includes(operand) ? previous : [...(previous as unknown[]), operand], keep: true };
          },
        });
      } else if (operator === '$min' || operator === '$max') {
        if (comparable(operand) === undefined) return undefined;
        const wanted = operator === '$min' ? -1 : 1;
        changes.push({
          segments,
          apply: (previous, present) => {
            if (!present) return { value: deepCopy(operand), keep: true };
            const order = compareSame(operand, previous);
            if (order === undefined) return undefined;
            // Only a value further in the wanted direction replaces the current one.
            return order === wanted ? { value: deepCopy(operand), keep: true } : { value: previous, keep: true };
          },
        });
      } else {
        if (typeof operand !== 'number') return undefined;
        changes.push({
          segments,
          apply: (previous, present) => {
            if (!present) return { value: operand, keep: true };
            return typeof previous === 'number' ? { value: previous + operand, keep: true } : undefined;
          },
        });
      }
    }
  }
  return overlaps(paths) ? undefined : changes;
}

/**
 * What an update changed, in the order it changed it: `[path, value]` for a value set (the
 * value as `next` holds it), `[path]` for a field removed. The journal keeps this instead of
 * the whole document (see patch.ts).
 */
export type PatchOp = [path: string] | [path: string, value: unknown];

/**
 * The updated version of `current`, whether anything changed and what, or undefined when
 * the update is not one this path applies. `current` is left untouched.
 */
export function applyPlainUpdate<T extends object>(current: T, modifier: Record<string, unknown>): { next: T; changed: boolean; ops: PatchOp[] } | undefined {
  const changes = changesOf(modifier);
  if (!changes) return undefined;
  const root: Plain = { ...(current as Plain) };
  // Objects already copied for this update, so two paths through one parent copy it once.
  const copied = new Set<Plain>([root]);
  let changed = false;
  const ops: PatchOp[] = [];
  for (const { segments, apply } of changes) {
    let parent = root;
    for (const segment of segments.slice(0, -1)) {
      const inner = Object.hasOwn(parent, segment) ? parent[segment] : undefined;
      if (inner === undefined) {
        // $unset of a path that is not there changes nothing; the others create it, or leave it to mingo.
        const outcome = apply(undefined, false);
        if (!outcome) return undefined;
        if (!outcome.keep) {
          parent = {};
          break;
        }
        const created: Plain = {};
        copied.add(created);
        parent[segment] = created;
        parent = created;
        continue;
      }
      if (!isPlainObject(inner)) return undefined;
      const own = copied.has(inner) ? inner : { ...inner };
      copied.add(own);
      parent[segment] = own;
      parent = own;
    }
    const last = segments[segments.length - 1]!;
    const present = Object.hasOwn(parent, last);
    const previous = present ? parent[last] : undefined;
    const outcome = apply(previous, present);
    if (!outcome) return undefined;
    if (!outcome.keep) {
      if (present) {
        delete parent[last];
        changed = true;
        ops.push([segments.join('.')]);
      }
      continue;
    }
    if (!present || !isDeepStrictEqual(previous, outcome.value)) {
      changed = true;
      // JSON has no undefined: the field reads back absent, as it did from a whole document.
      ops.push(outcome.value === undefined ? [segments.join('.')] : [segments.join('.'), outcome.value]);
    }
    parent[last] = outcome.value;
  }
  return { next: root as T, changed, ops };
}
