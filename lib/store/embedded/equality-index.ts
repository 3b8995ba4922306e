/**
 * Equality indexes for the embedded store: per indexed field, the ids of the documents
 * holding each scalar value, so a filter that pins an indexed field to a value (or to a
 * `$in` list of values) reads only those documents instead of the whole collection. The
 * full filter still runs on every candidate; the index only narrows where it looks.
 */
import type { Doc, Filter } from '../port.js';

type Key = string;

/** A scalar's index key; null for values the index does not hold (arrays, objects), which are always candidates. */
function keyOf(value: unknown): Key | null {
  if (value === undefined || value === null) return 'null'; // MongoDB's null also matches a missing field
  if (value instanceof Date) return `d:${value.getTime()}`;
  switch (typeof value) {
    case 'string':
      return `s:${value}`;
    case 'number':
      return `n:${value}`;
    case 'boolean':
      return `b:${value}`;
    default:
      return null;
  }
}

/** Stands for a path that crosses an array, where MongoDB matches any element: left to the filter. */
const THROUGH_ARRAY: unique symbol = Symbol('through an array');

function valueAt(doc: Doc, path: string): unknown {
  let value: unknown = doc;
  for (const part of path.split('.')) {
    if (Array.isArray(value)) return THROUGH_ARRAY;
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

class FieldIndex {
  private readonly byKey = new Map<Key, Set<string>>();
  /** Documents whose value here is an array or object: the filter decides for them. */
  private readonly unkeyed = new Set<string>();

  constructor(readonly path: string) {}

  add(doc: Doc): void {
    this.addKey(doc._id, keyOf(valueAt(doc, this.path)));
  }

  remove(doc: Doc): void {
    this.removeKey(doc._id, keyOf(valueAt(doc, this.path)));
  }

  /** A new version of a stored document: most writes leave most indexed fields as they were, and then nothing moves. */
  replace(previous: Doc, next: Doc): void {
    const [before, after] = [keyOf(valueAt(previous, this.path)), keyOf(valueAt(next, this.path))];
    if (before === after) return;
    this.removeKey(previous._id, before);
    this.addKey(next._id, after);
  }

  private addKey(id: string, key: Key | null): void {
    if (key === null) this.unkeyed.add(id);
    else {
      let ids = this.byKey.get(key);
      if (!ids) this.byKey.set(key, (ids = new Set()));
      ids.add(id);
    }
  }

  private removeKey(id: string, key: Key | null): void {
    if (key === null) this.unkeyed.delete(id);
    else {
      const ids = this.byKey.get(key);
      ids?.delete(id);
      if (ids?.size === 0) this.byKey.delete(key);
    }
  }

  /** Candidate ids for a condition on this field, or null when the condition is not an equality the index can answer. */
  candidates(condition: unknown): string[] | null {
    const values = equalityValues(condition);
    if (!values) return null;
    const keys = new Set<Key>();
    for (const value of values) {
      const key = keyOf(value);
      if (key === null) return null;
      keys.add(key); // `$in: [x, x]` names each document once
    }
    const out: string[] = [...this.unkeyed];
    for (const key of keys) for (const id of this.byKey.get(key) ?? []) out.push(id);
    return out;
  }
}

/** The values a condition pins the field to: `x`, `{$eq: x}`, `{$in: [...]}`; null otherwise. */
export function equalityValues(condition: unknown): unknown[] | null {
  if (condition === null || typeof condition !== 'object' || condition instanceof Date) return [condition];
  if (Array.isArray(condition)) return null;
  const ops = Object.keys(condition);
  if (ops.length !== 1) return null;
  const [op] = ops;
  const operand = (condition as Record<string, unknown>)[op!];
  if (op === '$eq') return [operand];
  if (op === '$in' && Array.isArray(operand)) return operand;
  return null;
}

export class EqualityIndexes {
  private readonly fields: FieldIndex[];

  constructor(paths: Iterable<string>) {
    this.fields = [...new Set(paths)].map((p) => new FieldIndex(p));
  }

  add(doc: Doc): void {
    for (const field of this.fields) field.add(doc);
  }

  remove(doc: Doc): void {
    for (const field of this.fields) field.remove(doc);
  }

  /** `next` takes the place of `previous`, a version of the same document. */
  replace(previous: Doc, next: Doc): void {
    for (const field of this.fields) field.replace(previous, next);
  }

  /** The fewest candidate ids any indexed equality in the filter allows; null when none applies. */
  candidates(filter: Filter): string[] | null {
    let best: string[] | null = null;
    for (const field of this.fields) {
      if (!(field.path in filter)) continue;
      const ids = field.candidates(filter[field.path]);
      if (ids && (!best || ids.length < best.length)) best = ids;
    }
    return best;
  }
}
