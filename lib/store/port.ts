/**
 * The store port: a small document-collection interface with MongoDB's query and update
 * semantics. Domain code in lib/ is written once against it; each adapter (embedded,
 * MongoDB) implements it, and one contract suite holds both to the same behaviour.
 *
 * Uniqueness is always expressed through `_id` (a string the domain chooses, such as
 * `email:ada@example.com` or a messageId), never through secondary unique indexes, so the
 * embedded adapter needs no unique-index machinery and every adapter gets atomic claims
 * from a plain insert.
 */

export interface Doc {
  _id: string;
  [field: string]: unknown;
}

/** A MongoDB query document. Built by lib/ code, never copied from an event. */
export type Filter = Record<string, unknown>;

export interface Update {
  $set?: Record<string, unknown>;
  $setOnInsert?: Record<string, unknown>;
  $unset?: Record<string, '' | 1 | true>;
  $inc?: Record<string, number>;
  $min?: Record<string, unknown>;
  $max?: Record<string, unknown>;
  $push?: Record<string, unknown>;
  $addToSet?: Record<string, unknown>;
  $pull?: Record<string, unknown>;
}

export type SortSpec = Record<string, 1 | -1>;

export interface FindOptions {
  sort?: SortSpec;
  skip?: number;
  limit?: number;
  projection?: Record<string, 0 | 1>;
  /**
   * Documents a cursor fetches per round trip, and so the most it holds unread: without it
   * a server may send everything left (the test server does) or 16 MiB. The embedded
   * store reads in place and has no use for it.
   */
  batchSize?: number;
}

export interface UpdateOptions {
  upsert?: boolean;
}

export interface FindOneAndUpdateOptions extends UpdateOptions {
  returnDocument?: 'before' | 'after';
}

export interface UpdateResult {
  matched: number;
  modified: number;
  upserted: boolean;
}

export type PipelineStage = Record<string, unknown>;

export interface Collection<T extends Doc = Doc> {
  /** Throws DuplicateKeyError when a document with the same `_id` exists. */
  insertOne(doc: T): Promise<void>;
  /**
   * Inserts each document whose `_id` is free, in one round trip; returns the `_id`s that
   * were taken (the rest went in). Other failures throw.
   */
  insertMany(docs: T[]): Promise<{ duplicates: string[] }>;
  findOne(filter: Filter, options?: Pick<FindOptions, 'sort' | 'projection'>): Promise<T | null>;
  find(filter: Filter, options?: FindOptions): AsyncIterable<T>;
  count(filter: Filter): Promise<number>;
  updateOne(filter: Filter, update: Update, options?: UpdateOptions): Promise<UpdateResult>;
  updateMany(filter: Filter, update: Update): Promise<UpdateResult>;
  /**
   * Applies `update` to the document with this `_id`, if there is one (and it matches
   * `where`, when given). An adapter may send many callers' updates in one round trip, and
   * then may only know what the batch matched as a whole: when some of its updates missed,
   * each caller hears `unknown`. For an update whose caller must always know, `updateOne`.
   */
  updateById(id: string, update: Update, where?: Filter): Promise<ByIdOutcome>;
  findOneAndUpdate(filter: Filter, update: Update, options?: FindOneAndUpdateOptions): Promise<T | null>;
  deleteOne(filter: Filter): Promise<number>;
  deleteMany(filter: Filter): Promise<number>;
  aggregate<R extends object>(pipeline: PipelineStage[]): Promise<R[]>;
}

/** Whether an `updateById` matched its document; `unknown` when its batch partly missed. */
export type ByIdOutcome = 'matched' | 'missed' | 'unknown';

export type StoreKind = 'embedded' | 'mongodb';

export interface Store {
  readonly kind: StoreKind;
  /** Human-readable location, safe to log: never contains credentials. */
  readonly description: string;
  collection<T extends Doc>(name: string): Collection<T>;
  close(): Promise<void>;
}

export class DuplicateKeyError extends Error {
  readonly code = 'DUPLICATE_KEY';
  constructor(
    readonly collection: string,
    readonly id: string,
  ) {
    super(`duplicate _id ${JSON.stringify(id)} in ${collection}`);
    this.name = 'DuplicateKeyError';
  }
}

export class StoreError extends Error {
  constructor(
    message: string,
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StoreError';
  }
}
