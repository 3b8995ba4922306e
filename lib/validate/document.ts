/**
 * Checks untrusted JSON-like data before it is stored as part of a document. Everything an
 * event, a webhook or a msg carries passes through here, so that no field can become a
 * query or update operator (`$`-keys), address a nested path (dotted keys), reach an
 * object's prototype, or grow a document without bound.
 */
import { accept, reject, type Checked } from './result.js';

export interface DocumentLimits {
  /** Approximate serialised size in bytes. */
  maxBytes: number;
  maxDepth: number;
  maxKeysPerObject: number;
  maxArrayLength: number;
  maxStringLength: number;
}

export const DEFAULT_LIMITS: DocumentLimits = {
  maxBytes: 64 * 1024,
  maxDepth: 8,
  maxKeysPerObject: 200,
  maxArrayLength: 1000,
  maxStringLength: 16 * 1024,
};

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const MAX_KEY_LENGTH = 128;

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** Why a key cannot be a stored field name, or null when it can. */
export function keyProblem(key: string): string | null {
  if (key.length === 0) return 'an empty key';
  if (key.length > MAX_KEY_LENGTH) return `a key longer than ${MAX_KEY_LENGTH} characters`;
  if (key.startsWith('$')) return `the key ${JSON.stringify(key)} (keys may not start with "$")`;
  if (key.includes('.')) return `the key ${JSON.stringify(key)} (keys may not contain ".")`;
  if (FORBIDDEN_KEYS.has(key)) return `the reserved key ${JSON.stringify(key)}`;
  if (/[\u0000-\u001f]/.test(key)) return `the key ${JSON.stringify(key)} (control characters)`;
  return null;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Checks `value` and returns a fresh copy built from own enumerable properties only, with
 * a plain prototype, so nothing the caller still holds can change what gets stored.
 */
export function checkObject(
  value: unknown,
  what: string,
  limits: DocumentLimits = DEFAULT_LIMITS,
): Checked<JsonObject> {
  if (!isPlainObject(value)) return reject('BAD_VALUE', `${what} must be an object`);
  const budget = { bytes: limits.maxBytes };
  const result = copyValue(value, what, 1, limits, budget);
  if (!result.ok) return result;
  return accept(result.value as JsonObject);
}

function copyValue(
  value: unknown,
  path: string,
  depth: number,
  limits: DocumentLimits,
  budget: { bytes: number },
): Checked<JsonValue> {
  if (depth > limits.maxDepth) return reject('TOO_DEEP', `${path} is nested deeper than ${limits.maxDepth} levels`);
  switch (typeof value) {
    case 'string':
      if (value.length > limits.maxStringLength) {
        return reject('TOO_LARGE', `${path} is a string longer than ${limits.maxStringLength} characters`);
      }
      return spend(budget, value.length + 2, path, limits) ?? accept(value);
    case 'number':
      if (!Number.isFinite(value)) return reject('BAD_VALUE', `${path} is not a finite number`);
      return spend(budget, 8, path, limits) ?? accept(value);
    case 'boolean':
      return spend(budget, 5, path, limits) ?? accept(value);
    case 'object': {
      if (value === null) return spend(budget, 4, path, limits) ?? accept(null);
      if (Array.isArray(value)) {
        if (value.length > limits.maxArrayLength) {
          return reject('TOO_LARGE', `${path} has more than ${limits.maxArrayLength} items`);
        }
        const out: JsonValue[] = [];
        for (let i = 0; i < value.length; i++) {
          const item = copyValue(value[i], `${path}[${i}]`, depth + 1, limits, budget);
          if (!item.ok) return item;
          out.push(item.value);
        }
        return spend(budget, 2 + value.length, path, limits) ?? accept(out);
      }
      if (!isPlainObject(value)) return reject('BAD_VALUE', `${path} is not plain JSON data`);
      const keys = Object.keys(value);
      if (keys.length > limits.maxKeysPerObject) {
        return reject('TOO_LARGE', `${path} has more than ${limits.maxKeysPerObject} keys`);
      }
      const out: JsonObject = {};
      for (const key of keys) {
        const problem = keyProblem(key);
        if (problem) return reject('BAD_KEY', `${path} has ${problem}`);
        const item = copyValue(value[key], `${path}.${key}`, depth + 1, limits, budget);
        if (!item.ok) return item;
        const overBudget = spend(budget, key.length + 4, path, limits);
        if (overBudget) return overBudget;
        out[key] = item.value;
      }
      return accept(out);
    }
    default:
      return reject('BAD_VALUE', `${path} is a ${typeof value}, which is not JSON data`);
  }
}

function spend(
  budget: { bytes: number },
  bytes: number,
  path: string,
  limits: DocumentLimits,
): Checked<JsonValue> | undefined {
  budget.bytes -= bytes;
  return budget.bytes < 0 ? reject('TOO_LARGE', `${path} makes the input larger than ${limits.maxBytes} bytes`) : undefined;
}
