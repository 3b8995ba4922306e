/**
 * Message templates in nunjucks. A template is compiled once and checked before it is
 * used: nunjucks resolves `x.constructor` like any other member, which reaches `Function`
 * and from there the whole process, so any lookup of a prototype member, or by a key only
 * known at render time, is refused when the template is compiled.
 */
import nunjucks from 'nunjucks';

/** What a template sees. Nothing else is in scope. */
export interface TemplateScope {
  profile: unknown;
  event: unknown;
  journey: unknown;
  msg: unknown;
  [extra: string]: unknown;
}

export class TemplateError extends Error {
  readonly code = 'TEMPLATE';
  constructor(
    readonly field: string,
    message: string,
    readonly line?: number,
  ) {
    super(line === undefined ? `${field}: ${message}` : `${field}, line ${line}: ${message}`);
    this.name = 'TemplateError';
  }
}

/** nunjucks' parser and node classes, which its published types leave out. */
const internals = nunjucks as unknown as {
  parser: { parse(source: string, extensions: unknown[], options: object): AstNode };
  nodes: Record<string, unknown>;
};

const FORBIDDEN = new Set(['constructor', '__proto__', 'prototype', '__defineGetter__', '__defineSetter__', '__lookupGetter__', '__lookupSetter__']);
/** A rendered field larger than this is refused rather than mailed. */
export const MAX_RENDERED_CHARS = 1_000_000;

/** The most items `range()` makes: nunjucks' own builds whatever array it is asked for, a billion numbers included. */
export const MAX_RANGE = 10_000;

function cappedRange(start: number, stop?: number, step = 1): number[] {
  const [from, to] = stop === undefined ? [0, start] : [start, stop];
  if (![from, to, step].every(Number.isFinite) || step === 0) throw new Error('range() needs finite numbers and a step other than 0');
  const count = Math.max(0, Math.ceil((to - from) / step));
  if (count > MAX_RANGE) throw new Error(`range() of ${count.toLocaleString('en-US')} items: at most ${MAX_RANGE.toLocaleString('en-US')}`);
  return Array.from({ length: count }, (_, i) => from + i * step);
}

function environment(autoescape: boolean): nunjucks.Environment {
  const env = new nunjucks.Environment(null, { autoescape, throwOnUndefined: false });
  env.addGlobal('range', cappedRange);
  return env;
}

const environments = { html: environment(true), text: environment(false) };

export type TemplateKind = keyof typeof environments;

interface AstNode {
  typename: string;
  value?: unknown;
  val?: AstNode;
  lineno?: number;
  findAll(type: unknown, results?: AstNode[]): AstNode[];
}

function checkAst(field: string, source: string): void {
  let root: AstNode;
  try {
    root = internals.parser.parse(source, [], {});
  } catch (err) {
    throw fromNunjucks(field, err);
  }
  const nodes = internals.nodes;
  for (const symbol of root.findAll(nodes.Symbol)) {
    if (FORBIDDEN.has(String(symbol.value))) throw new TemplateError(field, `"${String(symbol.value)}" cannot be used in a template`, line(symbol));
  }
  for (const lookup of root.findAll(nodes.LookupVal)) {
    const key = lookup.val;
    if (!key || key.typename !== 'Literal') {
      throw new TemplateError(field, 'a member can only be looked up by a name written in the template (x.name or x["name"] or x[0])', line(lookup));
    }
    if (FORBIDDEN.has(String(key.value))) throw new TemplateError(field, `"${String(key.value)}" cannot be looked up in a template`, line(lookup));
  }
}

const line = (node: AstNode): number | undefined => (node.lineno === undefined ? undefined : node.lineno + 1);

/** nunjucks reports "(unknown path) [Line 2, Column 7]\n  cause", counting lines from 0: keep the line (from 1) and the cause. */
function fromNunjucks(field: string, err: unknown): TemplateError {
  if (err instanceof TemplateError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const where = /\[Line (\d+), Column \d+\]/.exec(message);
  const cause = message
    .replace(/^\(unknown path\)\s*(\[Line \d+, Column \d+\])?\s*/, '')
    .replace(/^Error: /, '')
    .trim();
  return new TemplateError(field, cause || message, where ? Number(where[1]) + 1 : undefined);
}

export class CompiledTemplate {
  private readonly template: nunjucks.Template | null;

  constructor(
    readonly field: string,
    readonly source: string,
    kind: TemplateKind,
  ) {
    checkAst(field, source);
    try {
      this.template = source === '' ? null : nunjucks.compile(source, environments[kind]);
      // nunjucks compiles lazily: force it now so a syntax error shows at deploy, not at the first send.
      (this.template as unknown as { compile?: () => void } | null)?.compile?.();
    } catch (err) {
      throw fromNunjucks(field, err);
    }
  }

  render(scope: TemplateScope): string {
    if (!this.template) return '';
    let out: string;
    try {
      out = this.template.render(scope);
    } catch (err) {
      throw fromNunjucks(this.field, err);
    }
    if (out.length > MAX_RENDERED_CHARS) {
      throw new TemplateError(this.field, `renders ${out.length.toLocaleString('en-US')} characters, more than the ${MAX_RENDERED_CHARS.toLocaleString('en-US')} allowed`);
    }
    return out;
  }
}

/** A message's templates by field name (subject, html, text; body; title...). */
export class TemplateSet<F extends string> {
  private readonly compiled: Record<F, CompiledTemplate>;

  constructor(sources: Record<F, { source: string; kind: TemplateKind }>) {
    this.compiled = Object.fromEntries(
      Object.entries(sources).map(([field, spec]) => {
        const { source, kind } = spec as { source: string; kind: TemplateKind };
        return [field, new CompiledTemplate(field, source, kind)];
      }),
    ) as Record<F, CompiledTemplate>;
  }

  render(scope: TemplateScope): Record<F, string> {
    return Object.fromEntries(Object.entries(this.compiled).map(([field, t]) => [field, (t as CompiledTemplate).render(scope)])) as Record<F, string>;
  }
}
