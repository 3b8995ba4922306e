/**
 * The MongoDB adapter: the official driver, one client per store, indexes from
 * lib/store/schema created at open. Several Node-RED processes may share one database.
 */
import {
  MongoClient,
  MongoBulkWriteError,
  MongoInvalidArgumentError,
  MongoServerError,
  type Collection as DriverCollection,
  type Db,
  type Document,
  type Filter as DriverFilter,
  type UpdateFilter,
  type WriteError,
} from 'mongodb';
import {
  DuplicateKeyError,
  StoreError,
  type Collection,
  type Doc,
  type Filter,
  type FindOneAndUpdateOptions,
  type ByIdOutcome,
  type FindOptions,
  type PipelineStage,
  type Store,
  type Update,
  type UpdateOptions,
  type UpdateResult,
} from '../port.js';
import { INDEXES } from '../schema.js';
import { SharedTrips } from '../shared-trips.js';

export interface MongoStoreOptions {
  uri: string;
  database: string;
  /** How long to wait for a server before giving up on an operation. */
  serverSelectionTimeoutMS?: number;
  /** Told of each command as it is sent (its name and collection): for diagnostics and tests. */
  onCommand?: (command: string, collection: string) => void;
}

const DUPLICATE_KEY = 11000;

interface ByIdUpdate {
  id: string;
  update: Update;
  where: Filter;
}
/** Per kind of shared command: batches at the server at once, and what one may carry. */
const SHARED_IN_FLIGHT = 2;
const SHARED_WEIGHT = 1000;

export class MongoStore implements Store {
  readonly kind = 'mongodb' as const;
  readonly description: string;
  private readonly collections = new Map<string, MongoCollection<Doc>>();

  private constructor(
    private readonly client: MongoClient,
    private readonly db: Db,
    location: string,
  ) {
    this.description = `MongoDB ${location}`;
  }

  static async open(options: MongoStoreOptions): Promise<MongoStore> {
    const client = new MongoClient(options.uri, {
      serverSelectionTimeoutMS: options.serverSelectionTimeoutMS ?? 10_000,
      ignoreUndefined: true,
      monitorCommands: options.onCommand !== undefined,
    });
    const onCommand = options.onCommand;
    if (onCommand) client.on('commandStarted', (e) => onCommand(e.commandName, String(e.command[e.commandName])));
    const location = `${redactedHosts(options.uri)}/${options.database}`;
    try {
      await client.connect();
      const db = client.db(options.database);
      for (const [name, indexes] of Object.entries(INDEXES)) {
        if (indexes.length > 0) await db.collection(name).createIndexes(indexes.map((i) => ({ key: i.key, name: i.name })));
      }
      return new MongoStore(client, db, location);
    } catch (err) {
      await client.close().catch(() => undefined);
      throw new StoreError(`cannot open MongoDB ${location}: ${(err as Error).message}`, 'STORE_UNAVAILABLE', {
        cause: err,
      });
    }
  }

  collection<T extends Doc>(name: string): Collection<T> {
    // One per name, so that every caller's commands can share its round trips.
    let collection = this.collections.get(name);
    if (!collection) {
      collection = new MongoCollection<Doc>(name, this.db.collection<Doc>(name));
      this.collections.set(name, collection);
    }
    return collection as unknown as Collection<T>;
  }

  /** The driver's database, for libraries that speak to MongoDB themselves (Agenda). */
  database(): Db {
    return this.db;
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

/**
 * Inserts, lookups by `_id` and updates by `_id` share round trips with the concurrent
 * calls of the same kind (see shared-trips.ts); every other operation is its own command.
 */
class MongoCollection<T extends Doc> implements Collection<T> {
  private readonly inserts = new SharedTrips<T, void>((docs) => this.insertEach(docs), {
    maxWeight: SHARED_WEIGHT,
    maxInFlight: SHARED_IN_FLIGHT,
  });
  private readonly updates = new SharedTrips<ByIdUpdate, ByIdOutcome>((ops) => this.updateEach(ops), {
    maxWeight: SHARED_WEIGHT,
    maxInFlight: SHARED_IN_FLIGHT,
  });
  /** By projection: a batch's documents must all have the same fields. */
  private readonly lookups = new Map<string, SharedTrips<string[], T[]>>();

  constructor(
    private readonly name: string,
    private readonly c: DriverCollection<T>,
  ) {}

  insertOne(doc: T): Promise<void> {
    return this.inserts.submit(doc);
  }

  async insertMany(docs: T[]): Promise<{ duplicates: string[] }> {
    if (docs.length === 0) return { duplicates: [] };
    try {
      await this.c.insertMany(
        docs.map((doc) => doc as Parameters<DriverCollection<T>['insertOne']>[0]),
        { ordered: false },
      );
      return { duplicates: [] };
    } catch (err) {
      if (!(err instanceof MongoBulkWriteError)) throw err;
      const errors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
      if (errors.some((e) => e.code !== DUPLICATE_KEY)) throw err;
      return { duplicates: errors.map((e) => docs[e.index]!._id) };
    }
  }

  async findOne(filter: Filter, options: Pick<FindOptions, 'sort' | 'projection'> = {}): Promise<T | null> {
    const id = typeof filter._id === 'string' && Object.keys(filter).length === 1 ? filter._id : undefined;
    if (id !== undefined && shareable(options)) return (await this.lookup([id], options.projection))[0] ?? null;
    return (await this.c.findOne(asFilter<T>(filter), options)) as T | null;
  }

  async *find(filter: Filter, options: FindOptions = {}): AsyncIterable<T> {
    const ids = idList(filter);
    if (ids && shareable(options)) {
      yield* await this.lookup(ids, options.projection);
      return;
    }
    const cursor = this.c.find(asFilter<T>(filter), options);
    try {
      for await (const doc of cursor) yield doc as T;
    } finally {
      await cursor.close();
    }
  }

  count(filter: Filter): Promise<number> {
    return this.c.countDocuments(asFilter<T>(filter));
  }

  async updateOne(filter: Filter, update: Update, options: UpdateOptions = {}): Promise<UpdateResult> {
    const run = () => this.c.updateOne(asFilter<T>(filter), asUpdate<T>(update), { upsert: options.upsert === true });
    const r = await this.retryUpsertRace(run, options.upsert === true, filter);
    return { matched: r.matchedCount, modified: r.modifiedCount, upserted: r.upsertedCount > 0 };
  }

  updateById(id: string, update: Update, where: Filter = {}): Promise<ByIdOutcome> {
    return this.updates.submit({ id, update, where });
  }

  async updateMany(filter: Filter, update: Update): Promise<UpdateResult> {
    const r = await this.c.updateMany(asFilter<T>(filter), asUpdate<T>(update));
    return { matched: r.matchedCount, modified: r.modifiedCount, upserted: false };
  }

  async findOneAndUpdate(filter: Filter, update: Update, options: FindOneAndUpdateOptions = {}): Promise<T | null> {
    const run = () =>
      this.c.findOneAndUpdate(asFilter<T>(filter), asUpdate<T>(update), {
        upsert: options.upsert === true,
        returnDocument: options.returnDocument ?? 'before',
        includeResultMetadata: false,
      });
    return (await this.retryUpsertRace(run, options.upsert === true, filter)) as T | null;
  }

  async deleteOne(filter: Filter): Promise<number> {
    return (await this.c.deleteOne(asFilter<T>(filter))).deletedCount;
  }

  async deleteMany(filter: Filter): Promise<number> {
    return (await this.c.deleteMany(asFilter<T>(filter))).deletedCount;
  }

  async aggregate<R extends object>(pipeline: PipelineStage[]): Promise<R[]> {
    return (await this.c.aggregate<R & Document>(pipeline).toArray()) as R[];
  }

  /** The documents of these `_id`s (each once, in no order), looked up with other callers'. */
  private lookup(ids: string[], projection: FindOptions['projection']): Promise<T[]> {
    if (ids.length === 0) return Promise.resolve([]);
    const key = JSON.stringify(projection ?? null);
    let trips = this.lookups.get(key);
    if (!trips) {
      trips = new SharedTrips<string[], T[]>((requests) => this.lookupEach(requests, projection), {
        maxWeight: SHARED_WEIGHT,
        maxInFlight: SHARED_IN_FLIGHT,
      });
      this.lookups.set(key, trips);
    }
    return trips.submit(ids, ids.length);
  }

  private async lookupEach(requests: string[][], projection: FindOptions['projection']): Promise<Array<PromiseSettledResult<T[]>>> {
    const wanted = [...new Set(requests.flat())];
    const found = new Map<string, T>();
    const options = projection ? { projection } : {};
    for (const doc of await this.c.find(asFilter<T>({ _id: { $in: wanted } }), options).toArray()) found.set(doc._id, doc as T);
    // Two callers asking for the same document must not share one object: either may change its copy.
    const handedOut = new Set<string>();
    return requests.map((ids) => {
      const docs: T[] = [];
      for (const id of new Set(ids)) {
        const doc = found.get(id);
        if (!doc) continue;
        docs.push(handedOut.has(id) ? structuredClone(doc) : doc);
        handedOut.add(id);
      }
      return { status: 'fulfilled', value: docs };
    });
  }

  private insertEach(docs: T[]): Promise<Array<PromiseSettledResult<void>>> {
    return this.sharedWrite(
      docs,
      async (batch) => (await this.c.insertMany(batch.map((doc) => doc as Parameters<DriverCollection<T>['insertOne']>[0]), { ordered: false })).insertedCount,
      (doc) => doc._id,
      () => undefined,
    );
  }

  private updateEach(ops: ByIdUpdate[]): Promise<Array<PromiseSettledResult<ByIdOutcome>>> {
    return this.sharedWrite(
      ops,
      async (batch) =>
        (
          await this.c.bulkWrite(
            batch.map((op) => ({ updateOne: { filter: asFilter<T>({ _id: op.id, ...op.where }), update: asUpdate<T>(op.update) } })),
            { ordered: false },
          )
        ).matchedCount,
      (op) => op.id,
      // The server counts what the batch matched, not which: only all or none tells each caller.
      (accepted, matched) => (matched === accepted ? 'matched' : matched === 0 ? 'missed' : 'unknown'),
    );
  }

  /**
   * Runs several callers' writes as one unordered bulk command; each caller's outcome. A
   * write the server refuses fails its own caller only; a failure of the whole command
   * (the connection, the write concern) fails them all. `bulk` answers how many documents
   * the command wrote or matched, and `outcome` turns that and how many writes the server
   * accepted into what each accepted write's caller hears.
   */
  private async sharedWrite<W, V>(
    writes: W[],
    bulk: (writes: W[]) => Promise<number>,
    idOf: (write: W) => string,
    outcome: (accepted: number, matched: number) => V,
  ): Promise<Array<PromiseSettledResult<V>>> {
    try {
      const value = outcome(writes.length, await bulk(writes));
      return writes.map(() => ({ status: 'fulfilled', value }));
    } catch (err) {
      if (err instanceof MongoInvalidArgumentError && writes.length > 1) {
        // The driver refused the command before sending it (a document over the size
        // limit): nothing was written, and one caller's document must not fail the others.
        return Promise.all(
          writes.map((write) =>
            this.sharedWrite([write], bulk, idOf, outcome).then(
              ([settledOne]) => settledOne!,
              (reason: unknown): PromiseRejectedResult => ({ status: 'rejected', reason }),
            ),
          ),
        );
      }
      if (!(err instanceof MongoBulkWriteError) || err.writeConcernError) throw err;
      const errors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
      if (errors.length === 0) throw err;
      const byIndex = new Map(errors.map((e) => [e.index, e]));
      const value = outcome(writes.length - byIndex.size, err.matchedCount);
      return writes.map((write, i) => settled(byIndex.get(i), idOf(write), this.name, value));
    }
  }

  /**
   * Two concurrent upserts of the same _id can both miss and both insert; MongoDB answers
   * the loser with a duplicate key. Running it once more turns it into the update it is.
   */
  private async retryUpsertRace<R>(run: () => Promise<R>, upsert: boolean, filter: Filter): Promise<R> {
    const id = typeof filter._id === 'string' ? filter._id : '';
    try {
      return await run();
    } catch (err) {
      if (!(upsert && err instanceof MongoServerError && err.code === DUPLICATE_KEY)) throw this.translate(err, id);
    }
    try {
      return await run();
    } catch (err) {
      // Still a duplicate: the _id exists but the rest of the filter excludes it.
      throw this.translate(err, id);
    }
  }

  private translate(err: unknown, id: string): unknown {
    if (err instanceof MongoServerError && err.code === DUPLICATE_KEY) return new DuplicateKeyError(this.name, id);
    return err;
  }
}

/** One write's outcome in a shared bulk command: done, a DuplicateKeyError, or the server's refusal. */
function settled<V>(error: WriteError | undefined, id: string, collection: string, value: V): PromiseSettledResult<V> {
  if (!error) return { status: 'fulfilled', value };
  if (error.code === DUPLICATE_KEY) return { status: 'rejected', reason: new DuplicateKeyError(collection, id) };
  return { status: 'rejected', reason: new StoreError(`MongoDB refused a write to ${collection} (${id}): ${error.errmsg ?? ''}`, 'WRITE_REFUSED', { cause: error }) };
}

/**
 * Whether a lookup by `_id`s may share a find with others: one that returns every document
 * it names, each with its `_id` (by which the shared answer is handed out).
 */
function shareable(options: FindOptions): boolean {
  return options.sort === undefined && options.skip === undefined && options.limit === undefined && options.projection?._id !== 0;
}

/** The `_id`s of a filter that is a list of `_id`s and nothing else. */
function idList(filter: Filter): string[] | undefined {
  if (Object.keys(filter).length !== 1) return undefined;
  const id = filter._id;
  if (typeof id !== 'object' || id === null || Object.keys(id).length !== 1) return undefined;
  const list = (id as { $in?: unknown }).$in;
  return Array.isArray(list) && list.every((v): v is string => typeof v === 'string') ? list : undefined;
}

const asFilter = <T extends Doc>(filter: Filter) => filter as DriverFilter<T>;
const asUpdate = <T extends Doc>(update: Update) => update as UpdateFilter<T>;

/** host list of a connection string without user, password or options, for logs. */
export function redactedHosts(uri: string): string {
  const match = /^(mongodb(?:\+srv)?:\/\/)(?:[^@/]*@)?([^/?]*)/.exec(uri);
  return match ? `${match[1]}${match[2]}` : 'mongodb://(unparsable URI)';
}
