/**
 * Deep copies of stored documents. The embedded store hands out and takes in copies only (a
 * caller's msg.profile is the caller's to change, and the store's own versions are shared
 * between versions, see plain-update.ts), so every read and write copies a document.
 * structuredClone serialises and deserialises, which for the small plain objects documents
 * are costs several times a direct copy and was a seventh of an ingested event's CPU; this
 * copies plain objects, arrays and dates itself and leaves anything else to structuredClone,
 * so what it returns is what structuredClone would.
 */

const MAX_DEPTH = 200;

export function deepCopy<T>(value: T): T {
  return copyValue(value, 0) as T;
}

function copyValue(value: unknown, depth: number): unknown {
  if (value === null || typeof value !== 'object') {
    // Functions and symbols make structuredClone throw: let it.
    return typeof value === 'function' || typeof value === 'symbol' ? structuredClone(value) : value;
  }
  // Deeper than any document the validators allow: perhaps a cycle, which structuredClone keeps.
  if (depth > MAX_DEPTH) return structuredClone(value);
  if (Array.isArray(value)) {
    if (Object.getPrototypeOf(value) !== Array.prototype) return structuredClone(value);
    const out: unknown[] = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++) if (i in value) out[i] = copyValue(value[i], depth + 1);
    return out;
  }
  if (value instanceof Date) return new Date(value.getTime());
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return structuredClone(value);
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const copied = copyValue((value as Record<string, unknown>)[key], depth + 1);
    if (key === '__proto__') Object.defineProperty(out, key, { value: copied, enumerable: true, writable: true, configurable: true });
    else out[key] = copied;
  }
  return out;
}
