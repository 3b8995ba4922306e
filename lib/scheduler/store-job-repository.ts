/**
 * Agenda's job repository written against this package's store port, so that timers on
 * the embedded store run on Agenda through its documented custom-backend interface
 * (AgendaBackend / JobRepository) exactly as they do on MongoDB.
 *
 * Locking follows Agenda's MongoDB repository: a job is claimed by one conditional
 * findOneAndUpdate (unlocked and due, or its lock expired), which is atomic on both
 * adapters. Jobs are one document each in the `agendaJobs` collection. Which job to claim
 * next comes from a DueQueue that every write here keeps current, shared by all the
 * repositories on one store, so finding the next due job does not read every job.
 */
import { randomUUID } from 'node:crypto';
import type {
  AgendaBackend,
  JobId,
  JobParameters,
  JobRepository,
  JobRepositoryOptions,
  JobsOverview,
  JobsQueryOptions,
  JobsResult,
  JobState,
  JobWithState,
  RemoveJobsOptions,
} from 'agenda' with { 'resolution-mode': 'import' };
import type { Doc, Filter, SortSpec, Store, Update } from '../store/port.js';
import { COLLECTIONS } from '../store/schema.js';
import { DueQueue, type JobSummary } from './due-queue.js';

type JobDoc = Doc & Omit<JobParameters, '_id'>;

/** Fields Agenda treats as absent when null; stored as null so filters on them work alike. */
const NULLABLE_FIELDS = [
  'lockedAt',
  'lastFinishedAt',
  'failedAt',
  'failCount',
  'failReason',
  'repeatTimezone',
  'lastRunAt',
  'repeatInterval',
  'repeatAt',
  'disabled',
  'progress',
  'debounceStartedAt',
  'fork',
  'startDate',
  'endDate',
  'skipDays',
] as const;

const DEFAULT_SORT: SortSpec = { nextRunAt: 1, priority: -1 };

function toJob(doc: JobDoc): JobParameters {
  const out: Record<string, unknown> = { ...doc };
  for (const [key, value] of Object.entries(out)) if (value === null && key !== 'nextRunAt') delete out[key];
  return out as unknown as JobParameters;
}

function summaryOf(doc: JobDoc): JobSummary {
  return {
    _id: doc._id,
    name: doc.name,
    nextRunAt: doc.nextRunAt ?? null,
    priority: typeof doc.priority === 'number' ? doc.priority : 0,
    lockedAt: doc.lockedAt ?? null,
    disabled: doc.disabled === true,
  };
}

/** One queue per store, filled from the jobs collection on first use. */
const queues = new WeakMap<Store, Promise<DueQueue>>();

function idFilter(id: JobId | string): Filter {
  return { _id: String(id) };
}

/** Agenda's filter options as a store filter. */
function selection(options: RemoveJobsOptions): Filter {
  const filter: Filter = {};
  if (options.id !== undefined) filter._id = String(options.id);
  if (options.ids) filter._id = { $in: options.ids.map(String) };
  if (options.name !== undefined) filter.name = options.name;
  if (options.names) filter.name = { $in: options.names };
  if (options.notNames) filter.name = { ...(typeof filter.name === 'object' ? filter.name : {}), $nin: options.notNames };
  if (options.data !== undefined) {
    filter.data = options.data;
    // Implied by the whole-object match, and lets an indexed field (data.instanceId) narrow the search.
    if (options.data !== null && typeof options.data === 'object' && !Array.isArray(options.data)) {
      for (const [key, value] of Object.entries(options.data)) if (value === null || typeof value !== 'object') filter[`data.${key}`] = value;
    }
  }
  return filter;
}

function stateOf(job: JobParameters, now: Date): JobState {
  if (job.disabled) return 'paused';
  if (job.lockedAt) return 'running';
  if (job.failedAt && (!job.lastFinishedAt || job.failedAt.getTime() >= job.lastFinishedAt.getTime())) return 'failed';
  if (job.repeatInterval || job.repeatAt) return 'repeating';
  if (job.nextRunAt && job.nextRunAt.getTime() <= now.getTime()) return 'queued';
  if (job.nextRunAt) return 'scheduled';
  return 'completed';
}

export class StoreJobRepository implements JobRepository {
  constructor(private readonly store: Store) {}

  private get jobs() {
    return this.store.collection<JobDoc>(COLLECTIONS.agendaJobs);
  }

  private queue(): Promise<DueQueue> {
    let queue = queues.get(this.store);
    if (!queue) {
      queue = (async () => {
        const filled = new DueQueue();
        for await (const doc of this.jobs.find({})) filled.track(summaryOf(doc));
        return filled;
      })();
      queues.set(this.store, queue);
    }
    return queue;
  }

  /** Tells the queue what a write left behind. */
  private async saw(doc: JobDoc | null): Promise<void> {
    if (doc) (await this.queue()).track(summaryOf(doc));
  }

  /** Re-reads jobs a bulk write may have changed or removed. */
  private async refresh(ids: string[]): Promise<void> {
    const queue = await this.queue();
    for (const id of ids) {
      const doc = await this.jobs.findOne({ _id: id });
      if (doc) queue.track(summaryOf(doc));
      else queue.forget(id);
    }
  }

  private async idsOf(filter: Filter): Promise<string[]> {
    const ids: string[] = [];
    for await (const doc of this.jobs.find(filter, { projection: { _id: 1 } })) ids.push(doc._id);
    return ids;
  }

  async connect(): Promise<void> {}

  async saveJob<DATA = unknown>(job: JobParameters<DATA>, options: JobRepositoryOptions | undefined): Promise<JobParameters<DATA>> {
    const { _id, unique, uniqueOpts, ...props } = job;
    if (uniqueOpts?.debounce) throw new Error('the embedded store does not support debounced Agenda jobs');
    const fields: Record<string, unknown> = { ...props, lastModifiedBy: options?.lastModifiedBy ?? null };
    for (const key of NULLABLE_FIELDS) fields[key] ??= null;
    const now = new Date();
    if (_id) {
      const saved = await this.jobs.findOneAndUpdate({ ...idFilter(_id), name: props.name }, { $set: fields }, { returnDocument: 'after' });
      await this.saw(saved);
      return saved ? (toJob(saved) as JobParameters<DATA>) : job;
    }
    let filter: Filter | null = null;
    let update: Update = { $set: fields };
    if (props.type === 'single') {
      filter = { name: props.name, type: 'single' };
      // A due run already scheduled is kept: re-saving a single job must not postpone it.
      if (props.nextRunAt && props.nextRunAt.getTime() <= now.getTime()) {
        const { nextRunAt, ...rest } = fields;
        update = { $set: rest, $setOnInsert: { nextRunAt } };
      }
    } else if (unique) {
      filter = { ...unique, name: props.name };
      if (uniqueOpts?.insertOnly) update = { $setOnInsert: fields };
    }
    if (filter) {
      update.$setOnInsert = { ...(update.$setOnInsert ?? {}), _id: randomUUID() };
      const saved = await this.jobs.findOneAndUpdate(filter, update, { upsert: true, returnDocument: 'after' });
      if (!saved) throw new Error(`could not save Agenda job ${props.name}`);
      await this.saw(saved);
      return toJob(saved) as JobParameters<DATA>;
    }
    const doc = { _id: randomUUID(), ...fields } as JobDoc;
    await this.jobs.insertOne(doc);
    await this.saw(doc);
    return toJob(doc) as JobParameters<DATA>;
  }

  async saveJobState(job: JobParameters, options: JobRepositoryOptions | undefined): Promise<void> {
    if (!job._id) throw new Error('cannot save the state of a job without an id');
    // The write hands back what it left, so the queue learns it without reading the job again.
    const saved = await this.jobs.findOneAndUpdate(
      { ...idFilter(job._id), name: job.name },
      {
        $set: {
          lockedAt: job.lockedAt ?? null,
          nextRunAt: job.nextRunAt ?? null,
          lastRunAt: job.lastRunAt ?? null,
          progress: job.progress ?? null,
          failReason: job.failReason ?? null,
          failCount: job.failCount ?? null,
          failedAt: job.failedAt ?? null,
          lastFinishedAt: job.lastFinishedAt ?? null,
          lastModifiedBy: options?.lastModifiedBy ?? null,
        },
      },
      { returnDocument: 'after' },
    );
    if (!saved) {
      await this.refresh([String(job._id)]);
      throw new Error(`job ${job._id} (${job.name}) no longer exists`);
    }
    await this.saw(saved);
  }

  async lockJob(job: JobParameters, options: JobRepositoryOptions | undefined): Promise<JobParameters | undefined> {
    if (!job._id) return undefined;
    const locked = await this.jobs.findOneAndUpdate(
      { ...idFilter(job._id), name: job.name, lockedAt: null, nextRunAt: job.nextRunAt, disabled: { $ne: true } },
      { $set: { lockedAt: new Date(), lastModifiedBy: options?.lastModifiedBy ?? null } },
      { returnDocument: 'after' },
    );
    await this.saw(locked);
    return locked ? toJob(locked) : undefined;
  }

  async unlockJob(job: JobParameters): Promise<void> {
    if (job._id) await this.unlockJobs([job._id]);
  }

  async unlockJobs(jobIds: (JobId | string)[]): Promise<void> {
    const ids = jobIds.map(String);
    await this.jobs.updateMany({ _id: { $in: ids }, nextRunAt: { $ne: null } }, { $set: { lockedAt: null } });
    await this.refresh(ids);
  }

  async getNextJobToRun(
    jobName: string,
    nextScanAt: Date,
    lockDeadline: Date,
    now: Date | undefined,
    options: JobRepositoryOptions | undefined,
  ): Promise<JobParameters | undefined> {
    const queue = await this.queue();
    for (;;) {
      const candidate = queue.next(jobName, nextScanAt, lockDeadline);
      if (!candidate) return undefined;
      // Claim exactly the candidate, in the state the queue knows it in: a competing claim
      // (or a write the queue has not seen yet) makes this match nothing, and the job is re-read.
      const claimed = await this.jobs.findOneAndUpdate(
        { _id: candidate._id, name: jobName, lockedAt: candidate.lockedAt, nextRunAt: candidate.nextRunAt, disabled: { $ne: true } },
        { $set: { lockedAt: now ?? new Date(), lastModifiedBy: options?.lastModifiedBy ?? null } },
        { returnDocument: 'after' },
      );
      if (claimed) {
        queue.track(summaryOf(claimed));
        return toJob(claimed);
      }
      await this.refresh([candidate._id]);
    }
  }

  async getJobById(id: string): Promise<JobParameters | null> {
    const doc = await this.jobs.findOne(idFilter(id));
    return doc ? toJob(doc) : null;
  }

  async getQueueSize(): Promise<number> {
    return this.jobs.count({ nextRunAt: { $lt: new Date() } });
  }

  async removeJobs(options: RemoveJobsOptions): Promise<number> {
    const filter = selection(options);
    const ids = await this.idsOf(filter);
    const removed = await this.jobs.deleteMany(filter);
    await this.refresh(ids);
    return removed;
  }

  async disableJobs(options: RemoveJobsOptions): Promise<number> {
    return this.setDisabled(options, true);
  }

  async enableJobs(options: RemoveJobsOptions): Promise<number> {
    return this.setDisabled(options, false);
  }

  async purgeAllJobs(): Promise<number> {
    const removed = await this.jobs.deleteMany({});
    (await this.queue()).clear();
    return removed;
  }

  private async setDisabled(options: RemoveJobsOptions, disabled: boolean): Promise<number> {
    const filter = selection(options);
    const ids = await this.idsOf(filter);
    const { modified } = await this.jobs.updateMany(filter, { $set: { disabled } });
    await this.refresh(ids);
    return modified;
  }

  async getDistinctJobNames(): Promise<string[]> {
    const names = new Set<string>();
    for await (const doc of this.jobs.find({}, { projection: { name: 1 } })) names.add(doc.name);
    return [...names].sort();
  }

  async queryJobs(options: JobsQueryOptions = {}): Promise<JobsResult> {
    const filter = selection(options);
    if (!options.includeDisabled) filter.disabled = { $ne: true };
    const now = new Date();
    const matches: JobWithState[] = [];
    for await (const doc of this.jobs.find(filter, { sort: (options.sort as SortSpec | undefined) ?? DEFAULT_SORT })) {
      const job = toJob(doc);
      const state = stateOf(job, now);
      if (options.state && state !== options.state) continue;
      if (options.search && !job.name.includes(options.search) && !JSON.stringify(job.data ?? null).includes(options.search)) continue;
      matches.push({ ...job, _id: doc._id as JobId, state });
    }
    const skip = options.skip ?? 0;
    return { jobs: matches.slice(skip, options.limit ? skip + options.limit : undefined), total: matches.length };
  }

  async getJobsOverview(): Promise<JobsOverview[]> {
    const now = new Date();
    const byName = new Map<string, JobsOverview>();
    for await (const doc of this.jobs.find({})) {
      const job = toJob(doc);
      const row = byName.get(job.name) ?? {
        name: job.name,
        total: 0,
        running: 0,
        scheduled: 0,
        queued: 0,
        completed: 0,
        failed: 0,
        repeating: 0,
        paused: 0,
      };
      row.total += 1;
      row[stateOf(job, now)] += 1;
      byName.set(job.name, row);
    }
    return [...byName.values()];
  }
}

/** An AgendaBackend over the store port; the store's owner opens and closes the store. */
export class StoreAgendaBackend implements AgendaBackend {
  readonly name = 'journeys-store';
  readonly repository: StoreJobRepository;
  readonly ownsConnection = false;

  constructor(store: Store) {
    this.repository = new StoreJobRepository(store);
  }

  async connect(): Promise<void> {}
  async disconnect(): Promise<void> {}
}
