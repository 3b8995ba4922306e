/**
 * MongoDB query semantics in process, from mingo: the embedded store evaluates every filter
 * here, and segments check one profile with the same engine, so that an in-process answer
 * and a store query cannot drift apart.
 */
import { Context } from 'mingo/core';
import * as expressionOperators from 'mingo/operators/expression';
import * as queryOperators from 'mingo/operators/query';
import { Query } from 'mingo/query';
import type { AnyObject } from 'mingo/types';
import type { Filter } from './port.js';
import { compileSimpleFilter } from './simple-filter.js';

export interface CompiledFilter {
  test(doc: object): boolean;
}

/**
 * The operators a filter may use. mingo's default Query copies every operator table it has
 * on each construction, which dominated the cost of a lookup by _id; these contexts are
 * built once, and the one with expressions (hundreds of operators, copied per query) is
 * only used for a filter with `$expr`.
 */
const QUERY_CONTEXT = Context.init({ query: queryOperators });
const EXPRESSION_CONTEXT = Context.init({ query: queryOperators, expression: expressionOperators });

function usesExpressions(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(usesExpressions);
  if (value === null || typeof value !== 'object' || value instanceof Date || value instanceof RegExp) return false;
  return Object.entries(value).some(([key, inner]) => key === '$expr' || usesExpressions(inner));
}

function mingoQuery(filter: Filter): Query {
  return new Query(filter as AnyObject, { context: usesExpressions(filter) ? EXPRESSION_CONTEXT : QUERY_CONTEXT });
}

/**
 * The filter as a test. Filters of the shapes simple-filter.ts takes are evaluated there,
 * and a mingo Query is only built for a document it leaves undecided, so the filter must not
 * be changed while its test is in use (lib compiles and tests in one synchronous step).
 */
export function compileFilter(filter: Filter): CompiledFilter {
  const simple = compileSimpleFilter(filter);
  if (!simple) {
    const query = mingoQuery(filter);
    return { test: (doc) => query.test(doc as AnyObject) };
  }
  let query: Query | undefined;
  return { test: (doc) => simple(doc) ?? (query ??= mingoQuery(filter)).test(doc as AnyObject) };
}
