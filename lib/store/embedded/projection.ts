/**
 * Inclusion projections ({a: 1, 'b.c': 1}) with MongoDB's semantics, done directly: the
 * general projection engine costs more per document than the read it is meant to save.
 * `_id` is kept unless excluded; a dotted path reaches into arrays of objects, as in MongoDB.
 */
type Plain = Record<string, unknown>;

/** A tree of the paths to keep: true at a kept leaf. */
type Keep = { [field: string]: Keep | true };

/** Null when the projection is not a plain inclusion (then the general engine does it). */
export function inclusionTree(projection: Record<string, 0 | 1>): Keep | null {
  const tree: Keep = {};
  let keepId = true;
  for (const [path, flag] of Object.entries(projection)) {
    if (path === '_id' && flag === 0) {
      keepId = false;
      continue;
    }
    if (flag !== 1) return null;
    let at = tree;
    const parts = path.split('.');
    parts.forEach((part, i) => {
      if (i === parts.length - 1) at[part] = true;
      else {
        const next = at[part];
        if (next === true) return;
        at = at[part] = next ?? {};
      }
    });
  }
  if (keepId) tree._id = true;
  return tree;
}

/** Copies what `keep` names out of `value`; `copy` copies a kept value whole. */
function pick(value: unknown, keep: Keep | true, copy: <V>(v: V) => V): unknown {
  if (keep === true) return value !== null && typeof value === 'object' ? copy(value) : value;
  if (Array.isArray(value)) return value.filter((v) => v !== null && typeof v === 'object' && !(v instanceof Date)).map((v) => pick(v, keep, copy));
  if (value === null || typeof value !== 'object' || value instanceof Date) return undefined;
  const out: Plain = {};
  for (const [field, sub] of Object.entries(keep)) {
    if (!(field in (value as Plain))) continue;
    const picked = pick((value as Plain)[field], sub, copy);
    if (picked !== undefined) out[field] = picked;
  }
  return out;
}

/** The kept part of `doc`, as a copy that shares nothing with it. */
export function project<T>(doc: T, tree: Keep, copy: <V>(v: V) => V): T {
  return pick(doc, tree, copy) as T;
}
