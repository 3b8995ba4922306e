/**
 * The embedded store's fast path for the updates nearly every write is: `$set`, `$unset`,
 * `$inc` and a one-value `$push` of plain field paths through plain objects. mingo's updater builds a fresh
 * operator context (copying its query and expression tables) for each update, which was the
 * largest single cost of a wait's resume at thousands a second; and a whole-document deep
 * copy per write was the next. Here the new version copies only the objects on the changed
 * paths and shares the rest with the stored version, which no one mutates.
 *
 * Anything else (other operators, `$push` with modifiers such as `$each`, array positions,
 * `$` paths, a path through a non-object, overlapping paths, `$inc` of a non-number) returns undefined, and mingo applies the update
 * with its full MongoDB semantics, errors included.
 */
import { isDeepStrictEqual } from 'node:util';

type Plain = Record<string, unknown>;

const PLAIN_OPERATORS = new Set(['$set', '$unset', '$inc', '$push']);

function isPlainObject(value: unknown): value is Plain {
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
      if (operator === '$set') changes.push({ segments, apply: () => ({ value: structuredClone(operand), keep: true }) });
      else if (operator === '$unset') changes.push({ segments, apply: () => ({ value: undefined, keep: false }) });
      else if (operator === '$push') {
        if (isPlainObject(operand) && Object.keys(operand).some((k) => k.startsWith('$'))) return undefined;
        changes.push({
          segments,
          apply: (previous, present) => {
            if (!present) return { value: [structuredClone(operand)], keep: true };
            return Array.isArray(previous) ? { value: [...previous, structuredClone(operand)], keep: true } : undefined;
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
 * The updated version of `current` and whether anything changed, or undefined when the
 * update is not one this path applies. `current` is left untouched.
 */
export function applyPlainUpdate<T extends object>(current: T, modifier: Record<string, unknown>): { next: T; changed: boolean } | undefined {
  const changes = changesOf(modifier);
  if (!changes) return undefined;
  const root: Plain = { ...(current as Plain) };
  // Objects already copied for this update, so two paths through one parent copy it once.
  const copied = new Set<Plain>([root]);
  let changed = false;
  for (const { segments, apply } of changes) {
    let parent = root;
    for (const segment of segments.slice(0, -1)) {
      const inner = Object.hasOwn(parent, segment) ? parent[segment] : undefined;
      if (inner === undefined) {
        // $unset of a path that is not there changes nothing; $set and $inc create it.
        if (!apply(undefined, false)?.keep) {
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
      }
      continue;
    }
    if (!present || !isDeepStrictEqual(previous, outcome.value)) changed = true;
    parent[last] = outcome.value;
  }
  return { next: root as T, changed };
}
