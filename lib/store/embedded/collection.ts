/**
 * One embedded collection: documents in a Map by `_id`, MongoDB semantics from mingo (the
 * same engine lib/ uses to evaluate filters in process), every change journaled before it
 * is acknowledged. Each method runs its read-check-write synchronously, so within the one
 * process that owns the store every update is atomic, as a single-document MongoDB write.
 */
import { Aggregator } from 'mingo';
import { update as applyModifier, type Modifier } from 'mingo/updater';
import type { AnyObject } from 'mingo/types';
import {
  DuplicateKeyError,
  StoreError,
  type Collection,
  type Doc,
  type Filter,
  type ByIdOutcome,
  type FindOneAndUpdateOptions,
  type FindOptions,
  type PipelineStage,
  type Update,
  type UpdateOptions,
  type UpdateResult,
} from '../port.js';
import { compileFilter } from '../filter-engine.js';
import type { JournalRecord } from './codec.js';
import { deepCopy } from './copy.js';
import { EqualityIndexes, equalityValues } from './equality-index.js';
import { applyPatch } from './patch.js';
import { applyPlainUpdate, type PatchOp } from './plain-update.js';
import { inclusionTree, project } from './projection.js';

export type Persist = (records: JournalRecord[]) => Promise<void>;

/** A document's new version, and what changed when the plain-update path knows it. */
interface Updated<T> {
  doc: T;
  ops?: PatchOp[];
}

const clone = <T>(value: T): T => deepCopy(value);

export class EmbeddedCollection<T extends Doc> implements Collection<T> {
  private readonly docs = new Map<string, T>();
  /** The _ids in ascending order, kept until an insert or a removal changes them. */
  private sortedIds: string[] | null = null;
  private readonly indexes: EqualityIndexes;

  /** `indexed`: fields a filter may pin by equality to read only the matching documents. */
  constructor(
    readonly name: string,
    private readonly persist: Persist,
    indexed: Iterable<string> = [],
  ) {
    this.indexes = new EqualityIndexes(indexed);
  }

  /** How many documents it holds. */
  get size(): number {
    return this.docs.size;
  }

  /** Stores a document as the current version (from a write or a journal replay). */
  put(doc: T): void {
    const previous = this.docs.get(doc._id);
    if (!previous) this.sortedIds = null;
    this.docs.set(doc._id, doc);
    if (previous) this.indexes.replace(previous, doc);
    else this.indexes.add(doc);
  }

  /** Applies a journaled patch (a replay); a patch of a document not held changes nothing. */
  patch(id: string, ops: readonly PatchOp[]): void {
    const current = this.docs.get(id);
    if (current) this.put(applyPatch(current, ops));
  }

  remove(id: string): void {
    const previous = this.docs.get(id);
    if (!previous) return;
    this.indexes.remove(previous);
    this.docs.delete(id);
    this.sortedIds = null;
  }

  async insertOne(doc: T): Promise<void> {
    this.requireId(doc._id);
    if (this.docs.has(doc._id)) throw new DuplicateKeyError(this.name, doc._id);
    const stored = clone(doc);
    this.put(stored);
    await this.persist([{ c: this.name, put: stored }]);
  }

  async insertMany(docs: T[]): Promise<{ duplicates: string[] }> {
    const duplicates: string[] = [];
    const records: JournalRecord[] = [];
    for (const doc of docs) {
      this.requireId(doc._id);
      if (this.docs.has(doc._id)) {
        duplicates.push(doc._id);
        continue;
      }
      const copy = clone(doc);
      this.put(copy);
      records.push({ c: this.name, put: copy });
    }
    await this.persistRecords(records);
    return { duplicates };
  }

  async findOne(filter: Filter, options: Pick<FindOptions, 'sort' | 'projection'> = {}): Promise<T | null> {
    const [first] = this.select(filter, { ...options, limit: 1 });
    return first ? shaper<T>(options.projection)(first) : null;
  }

  async *find(filter: Filter, options: FindOptions = {}): AsyncIterable<T> {
    const shape = shaper<T>(options.projection);
    for (const doc of this.select(filter, options)) yield shape(doc);
  }

  async count(filter: Filter): Promise<number> {
    return this.matching(filter).length;
  }

  async updateOne(filter: Filter, update: Update, options: UpdateOptions = {}): Promise<UpdateResult> {
    const outcome = this.modifyFirst(filter, update, options.upsert === true);
    await this.persistRecords(outcome.records);
    return outcome.result;
  }

  async updateById(id: string, update: Update, where: Filter = {}): Promise<ByIdOutcome> {
    return (await this.updateOne({ ...where, _id: id }, update)).matched > 0 ? 'matched' : 'missed';
  }

  async updateMany(filter: Filter, update: Update): Promise<UpdateResult> {
    const changed: Updated<T>[] = [];
    const targets = this.matching(filter);
    for (const current of targets) {
      const next = this.applyUpdate(current, update, false);
      if (next) changed.push(next);
    }
    for (const { doc } of changed) this.put(doc);
    await this.persistRecords(changed.map((u) => this.recordOf(u)));
    return { matched: targets.length, modified: changed.length, upserted: false };
  }

  async findOneAndUpdate(filter: Filter, update: Update, options: FindOneAndUpdateOptions = {}): Promise<T | null> {
    const outcome = this.modifyFirst(filter, update, options.upsert === true);
    await this.persistRecords(outcome.records);
    const doc = options.returnDocument === 'after' ? outcome.after : outcome.before;
    return doc ? clone(doc) : null;
  }

  async deleteOne(filter: Filter): Promise<number> {
    const [target] = this.select(filter, { limit: 1 });
    if (!target) return 0;
    this.remove(target._id);
    await this.persist([{ c: this.name, del: target._id }]);
    return 1;
  }

  async deleteMany(filter: Filter): Promise<number> {
    const targets = this.matching(filter);
    for (const doc of targets) this.remove(doc._id);
    await this.persistRecords(targets.map((doc) => ({ c: this.name, del: doc._id })));
    return targets.length;
  }

  async aggregate<R extends object>(pipeline: PipelineStage[]): Promise<R[]> {
    // Results may share sub-objects with stored documents; hand out copies only.
    return clone(new Aggregator(pipeline).run(Array.from(this.docs.values())) as R[]);
  }

  private modifyFirst(
    filter: Filter,
    update: Update,
    upsert: boolean,
  ): { result: UpdateResult; before: T | null; after: T | null; records: JournalRecord[] } {
    const [current] = this.select(filter, { limit: 1 });
    if (current) {
      const next = this.applyUpdate(current, update, false);
      if (next) this.put(next.doc);
      return {
        result: { matched: 1, modified: next ? 1 : 0, upserted: false },
        before: current,
        after: next?.doc ?? current,
        records: next ? [this.recordOf(next)] : [],
      };
    }
    if (!upsert) return { result: { matched: 0, modified: 0, upserted: false }, before: null, after: null, records: [] };
    const seed = { ...equalityFields(filter), ...(update.$setOnInsert ?? {}) } as T;
    this.requireId(seed._id);
    // As MongoDB: the _id exists, but the rest of the filter excluded it.
    if (this.docs.has(seed._id)) throw new DuplicateKeyError(this.name, seed._id);
    const created = this.applyUpdate(seed, update, true)!.doc;
    this.put(created);
    return { result: { matched: 0, modified: 0, upserted: true }, before: null, after: created, records: [{ c: this.name, put: created }] };
  }

  /** Returns the updated copy (with what changed, when the plain path applied it), or null when the update changes nothing. */
  private applyUpdate(current: T, update: Update, inserting: boolean): Updated<T> | null {
    const { $setOnInsert, ...modifier } = update;
    // An upsert's seed holds the caller's own objects, which the store must not keep.
    const base = inserting ? clone(current) : current;
    if (inserting && $setOnInsert) Object.assign(base, clone($setOnInsert));
    const plain = applyPlainUpdate(base, modifier);
    let outcome: { next: T; changed: boolean; ops?: PatchOp[] } | undefined = plain;
    if (!outcome) {
      const next = inserting ? base : clone(current);
      const changedPaths = applyModifier(next as AnyObject, modifier as Modifier<AnyObject>, undefined, undefined, { cloneMode: 'deep' });
      outcome = { next, changed: changedPaths.length > 0 };
    }
    if (outcome.next._id !== current._id) throw new StoreError(`an update may not change _id in ${this.name}`, 'IMMUTABLE_ID');
    if (!outcome.changed && !inserting) return null;
    // A new document is journaled whole; so is one mingo updated, which does not say exactly what it changed.
    return { doc: outcome.next, ...(inserting || !outcome.ops ? {} : { ops: outcome.ops }) };
  }

  /** The journal record of an update: the patch when there is one, else the whole new version. */
  private recordOf(updated: Updated<T>): JournalRecord {
    return updated.ops ? { c: this.name, patch: updated.doc._id, ops: updated.ops } : { c: this.name, put: updated.doc };
  }

  /**
   * The matching documents, the stored objects themselves, sorted, skipped and limited. A sort
   * by _id alone walks the _ids in order lazily, so a cursor over a whole collection (an
   * audience run's) holds no list of it and finds each document as it stands when reached.
   */
  private select(filter: Filter, options: FindOptions): Iterable<T> {
    const skip = options.skip ?? 0;
    const limit = options.limit && options.limit > 0 ? options.limit : Number.POSITIVE_INFINITY;
    const direction = idSortDirection(options.sort);
    const walk = direction === null ? null : this.walkInIdOrder(filter, direction);
    if (walk) return window(walk, skip, limit);
    let docs = this.matching(filter);
    if (options.sort) docs = new Aggregator([{ $sort: options.sort }]).run(docs as AnyObject[]) as T[];
    return docs.slice(skip, skip + limit);
  }

  /**
   * The matches of a filter no lookup narrows, in _id order from the least _id it admits. Null
   * when a lookup narrows the filter (sorting those few is cheaper than walking). The walk keeps
   * the order of _ids as it was when it began; one removed since is passed over.
   */
  private walkInIdOrder(filter: Filter, direction: 1 | -1): Iterable<T> | null {
    if (('_id' in filter && equalityValues(filter._id)) || this.indexes.candidates(filter)) return null;
    const query = compileFilter(filter);
    const ids = (this.sortedIds ??= [...this.docs.keys()].sort());
    const floor = direction === 1 ? idFloor(filter) : null;
    const start = floor ? firstAbove(ids, floor) : direction === 1 ? 0 : ids.length - 1;
    const docs = this.docs;
    return (function* () {
      for (let i = start; i >= 0 && i < ids.length; i += direction) {
        const doc = docs.get(ids[i]!);
        if (doc && query.test(doc)) yield doc;
      }
    })();
  }

  private matching(filter: Filter): T[] {
    // By _id alone, the commonest filter of all: nothing to compile.
    if (typeof filter._id === 'string' && hasOnlyId(filter)) {
      const doc = this.docs.get(filter._id);
      return doc ? [doc] : [];
    }
    const query = compileFilter(filter);
    const ids = '_id' in filter ? equalityValues(filter._id) : null;
    const out: T[] = [];
    if (ids?.every((id): id is string => typeof id === 'string')) {
      // Direct lookups: identity checks are by _id, and batches (gates, instances) by a list of them.
      for (const id of new Set(ids)) {
        const doc = this.docs.get(id);
        if (doc && query.test(doc)) out.push(doc);
      }
      return out;
    }
    const candidates = this.indexes.candidates(filter);
    if (candidates) {
      // One equality on a top-level field (a report reads a journey's every instance so) is checked
      // directly; only a value the index could not key (an array, say) goes through the full filter.
      const keys = Object.keys(filter);
      const only = keys.length === 1 && !keys[0]!.includes('.') ? keys[0]! : null;
      const wanted = only === null ? undefined : filter[only];
      const direct = only !== null && isPlainEquality(wanted);
      for (const candidate of candidates) {
        const doc = this.docs.get(candidate);
        if (!doc) continue;
        const value = direct ? (doc as Record<string, unknown>)[only!] : undefined;
        const matches = direct ? value === wanted || (typeof value === 'object' && value !== null && query.test(doc)) : query.test(doc);
        if (matches) out.push(doc);
      }
      return out;
    }
    for (const doc of this.docs.values()) if (query.test(doc)) out.push(doc);
    return out;
  }

  private async persistRecords(records: JournalRecord[]): Promise<void> {
    if (records.length > 0) await this.persist(records);
  }

  private requireId(id: unknown): asserts id is string {
    if (typeof id !== 'string' || id.length === 0) {
      throw new StoreError(`documents in ${this.name} need a non-empty string _id`, 'BAD_ID');
    }
  }
}

/** The fields of a filter that an upsert copies into the new document, as MongoDB does. */
function equalityFields(filter: Filter): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(filter)) {
    if (key.startsWith('$') || key.includes('.')) continue;
    const isOperatorObject =
      value !== null && typeof value === 'object' && !(value instanceof Date) && !Array.isArray(value) &&
      Object.keys(value).some((k) => k.startsWith('$'));
    if (!isOperatorObject) out[key] = clone(value);
  }
  return out;
}

function hasOnlyId(filter: Filter): boolean {
  for (const key in filter) if (key !== '_id') return false;
  return true;
}

/** A string, number or boolean compared for equality: what the equality index keys exactly. */
function isPlainEquality(condition: unknown): boolean {
  return typeof condition === 'string' || typeof condition === 'number' || typeof condition === 'boolean';
}

/** What a read hands out for each stored document: its own copy, projected. */
function shaper<T>(projection: FindOptions['projection']): (doc: T) => T {
  if (!projection || Object.keys(projection).length === 0) return clone;
  const tree = inclusionTree(projection);
  if (tree) return (doc) => project(doc, tree, clone);
  const stage = new Aggregator([{ $project: projection }]);
  return (doc) => clone(stage.run([doc as AnyObject])[0] as T);
}

/** `docs` from the `skip`th on, at most `limit` of them. */
function* window<T>(docs: Iterable<T>, skip: number, limit: number): Generator<T> {
  let skipped = 0;
  let given = 0;
  for (const doc of docs) {
    if (skipped < skip) {
      skipped += 1;
      continue;
    }
    yield doc;
    if (++given >= limit) return;
  }
}

/** 1 or -1 for a sort by _id alone; null for any other. */
function idSortDirection(sort: FindOptions['sort']): 1 | -1 | null {
  if (!sort) return null;
  const keys = Object.keys(sort);
  if (keys.length !== 1 || keys[0] !== '_id') return null;
  const direction = (sort as Record<string, unknown>)._id;
  return direction === 1 || direction === -1 ? direction : null;
}

interface IdFloor {
  id: string;
  inclusive: boolean;
}

/** The least _id a filter admits, from `_id: { $gt | $gte: string }` at its top level or in a top-level `$and`; null when it names none. */
function idFloor(filter: Filter): IdFloor | null {
  const conditions: unknown[] = ['_id' in filter ? filter._id : undefined];
  if (Array.isArray(filter.$and)) for (const part of filter.$and as unknown[]) conditions.push((part as Filter | null)?._id);
  let floor: IdFloor | null = null;
  for (const condition of conditions) {
    if (condition === null || typeof condition !== 'object') continue;
    for (const [op, inclusive] of [['$gt', false], ['$gte', true]] as const) {
      const id = (condition as Record<string, unknown>)[op];
      if (typeof id !== 'string') continue;
      if (!floor || id > floor.id || (id === floor.id && !inclusive)) floor = { id, inclusive };
    }
  }
  return floor;
}

/** The index of the first of the sorted `ids` the floor admits. */
function firstAbove(ids: readonly string[], floor: IdFloor): number {
  let low = 0;
  let high = ids.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    const id = ids[mid]!;
    if (id < floor.id || (id === floor.id && !floor.inclusive)) low = mid + 1;
    else high = mid;
  }
  return low;
}
