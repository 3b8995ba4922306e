/**
 * The MongoDB adapter: the official driver, one client per store, indexes from
 * lib/store/schema created at open. Several Node-RED processes may share one database.
 */
import {
  MongoClient,
  MongoBulkWriteError,
  MongoServerError,
  type Collection as DriverCollection,
  type Db,
  type Document,
  type Filter as DriverFilter,
  type UpdateFilter,
} from 'mongodb';
import {
  DuplicateKeyError,
  StoreError,
  type Collection,
  type Doc,
  type Filter,
  type FindOneAndUpdateOptions,
  type FindOptions,
  type PipelineStage,
  type Store,
  type Update,
  type UpdateOptions,
  type UpdateResult,
} from '../port.js';
import { INDEXES } from '../schema.js';

export interface MongoStoreOptions {
  uri: string;
  database: string;
  /** How long to wait for a server before giving up on an operation. */
  serverSelectionTimeoutMS?: number;
}

const DUPLICATE_KEY = 11000;

export class MongoStore implements Store {
  readonly kind = 'mongodb' as const;
  readonly description: string;

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
    });
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
    return new MongoCollection<T>(name, this.db.collection<T>(name));
  }

  /** The driver's database, for libraries that speak to MongoDB themselves (Agenda). */
  database(): Db {
    return this.db;
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

class MongoCollection<T extends Doc> implements Collection<T> {
  constructor(
    private readonly name: string,
    private readonly c: DriverCollection<T>,
  ) {}

  async insertOne(doc: T): Promise<void> {
    try {
      await this.c.insertOne(doc as Parameters<DriverCollection<T>['insertOne']>[0]);
    } catch (err) {
      throw this.translate(err, doc._id);
    }
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
    return (await this.c.findOne(asFilter<T>(filter), options)) as T | null;
  }

  async *find(filter: Filter, options: FindOptions = {}): AsyncIterable<T> {
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

const asFilter = <T extends Doc>(filter: Filter) => filter as DriverFilter<T>;
const asUpdate = <T extends Doc>(update: Update) => update as UpdateFilter<T>;

/** host list of a connection string without user, password or options, for logs. */
export function redactedHosts(uri: string): string {
  const match = /^(mongodb(?:\+srv)?:\/\/)(?:[^@/]*@)?([^/?]*)/.exec(uri);
  return match ? `${match[1]}${match[2]}` : 'mongodb://(unparsable URI)';
}
