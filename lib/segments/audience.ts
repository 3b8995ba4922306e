/**
 * Audience runs: a brand-initiated campaign enrols every profile that matches segment rules
 * into a journey. A run reads the matching profiles in `_id` order through one cursor, a
 * bounded page in memory at a time, never the audience, paced to a rate, and checkpoints
 * the last `_id` it finished in the store. Each profile's instance id is derived from the
 * run and the profile, so a run resumed after a crash repeats at most the work after its
 * last checkpoint and finds what it had already enrolled instead of enrolling it again.
 *
 * One document per segment node holds its current (or last) run; starting a run is one
 * conditional upsert on it, so two triggers, in one process or in two, cannot start two
 * runs. A lease names the process running it; another process (or the same one after a
 * restart) takes over once the lease has lapsed.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { derivedInstanceId, enrolMany, type Enrolment, type ReentryPolicy } from '../journeys/enrol.js';
import type { JourneyInstance } from '../journeys/instance.js';
import type { Profile } from '../profiles/profile.js';
import { DuplicateKeyError, type Collection, type Doc, type Filter, type Store } from '../store/port.js';
import { COLLECTIONS } from '../store/schema.js';
import { compileSegment } from './compile.js';
import type { SegmentRules } from './rules.js';

export type RunStatus = 'running' | 'done' | 'stopped' | 'failed';

export interface AudienceRunDoc extends Doc {
  /** The segment node's id: the document's `_id`. */
  runId: string;
  journey: string;
  rules: SegmentRules;
  policy: ReentryPolicy;
  /** Profiles per second; 0: as fast as the store answers. */
  rate: number;
  /** The instant relative windows ("in the last 7 days") mean, fixed so a resumed run selects the same audience. */
  asOf: Date;
  topic?: string;
  status: RunStatus;
  /** The `_id` of the last profile finished, in `_id` order; null before the first. */
  after: string | null;
  /**
   * The last `_id` of the page being worked on, written before its first enrolment: after a
   * crash, only profiles up to it can have been enrolled beyond the checkpoint.
   */
  reserved: string | null;
  entered: number;
  refused: number;
  startedAt: Date;
  updatedAt: Date;
  finishedAt?: Date;
  error?: string;
  owner: string;
  leaseUntil: Date;
}

export interface RunSpec {
  node: string;
  journey: string;
  rules: SegmentRules;
  policy: ReentryPolicy;
  rate: number;
  topic?: string;
}

export interface RunSummary {
  runId: string;
  journey: string;
  matched: number;
  entered: number;
  refused: number;
  status: RunStatus;
  startedAt: Date;
  finishedAt: Date | null;
  error?: string;
}

/** What a run hands to its node. Called in `_id` order; `entered` once per instance to send on. */
export interface RunListener {
  entered(profile: Profile, instance: JourneyInstance, run: AudienceRunDoc): void;
  refused(profile: Profile, reason: string, run: AudienceRunDoc): void;
  progress(run: AudienceRunDoc): void;
  finished(summary: RunSummary): void;
}

export type StartResult = { status: 'started'; run: AudienceRunner } | { status: 'busy'; runId: string };

/** How long a silent owner keeps its run; the runner renews it at every checkpoint. */
export const LEASE_MS = 30_000;
const CHECKPOINT_MS = 1_000;
/** Profiles worked on between two reads of the cursor: a bounded slice of the audience (a few MB). */
const PAGE_SIZE = 5_000;
/** Profiles enrolled in one batch (a few round trips for all of them), and the most held before a checkpoint. */
const MAX_CHUNK = 250;

export const runSummary = (run: AudienceRunDoc): RunSummary => ({
  runId: run.runId,
  journey: run.journey,
  matched: run.entered + run.refused,
  entered: run.entered,
  refused: run.refused,
  status: run.status,
  startedAt: run.startedAt,
  finishedAt: run.finishedAt ?? null,
  ...(run.error === undefined ? {} : { error: run.error }),
});

/** The instance a run gives a profile: the same on every attempt of the same run. */
export const runInstanceId = (runId: string, profileId: string): string => derivedInstanceId(runId, profileId);

/** An owner name for this process and node instance, readable in the store. */
export const ownerName = (): string => `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;

const runs = (store: Store) => store.collection<AudienceRunDoc>(COLLECTIONS.audienceRuns);

/**
 * Starts a run for the node unless one is running (here or in another process). Rules are
 * compiled first, so bad rules throw SegmentRuleError before anything is written.
 */
export async function startRun(store: Store, spec: RunSpec, owner: string, listener: RunListener, at = new Date()): Promise<StartResult> {
  compileSegment(spec.rules, at);
  const run: AudienceRunDoc = {
    _id: spec.node,
    runId: randomUUID(),
    journey: spec.journey,
    rules: spec.rules,
    policy: spec.policy,
    rate: spec.rate,
    asOf: at,
    ...(spec.topic === undefined ? {} : { topic: spec.topic }),
    status: 'running',
    after: null,
    reserved: null,
    entered: 0,
    refused: 0,
    startedAt: at,
    updatedAt: at,
    owner,
    leaseUntil: new Date(at.getTime() + LEASE_MS),
  };
  const { _id, ...fields } = run;
  try {
    // Replaces a finished run's document; a running one does not match, and the upsert then collides on _id.
    const updated = await runs(store).updateOne(
      { _id, status: { $ne: 'running' } },
      { $set: fields, $unset: { finishedAt: '', error: '' } },
      { upsert: true },
    );
    if (updated.matched === 0 && !updated.upserted) throw new DuplicateKeyError(COLLECTIONS.audienceRuns, _id);
  } catch (err) {
    if (!(err instanceof DuplicateKeyError)) throw err;
    const current = await runs(store).findOne({ _id });
    return { status: 'busy', runId: current?.runId ?? 'unknown' };
  }
  return { status: 'started', run: new AudienceRunner(store, run, owner, listener) };
}

/**
 * Takes over the node's unfinished run when no live process holds it: after a restart, a
 * redeploy, or another process's crash. Null when there is none to take.
 */
export async function resumeRun(store: Store, node: string, owner: string, listener: RunListener, at = new Date()): Promise<AudienceRunner | null> {
  const run = await runs(store).findOneAndUpdate(
    { _id: node, status: 'running', $or: [{ owner }, { leaseUntil: { $lt: at } }] },
    { $set: { owner, leaseUntil: new Date(at.getTime() + LEASE_MS) } },
    { returnDocument: 'after' },
  );
  return run ? new AudienceRunner(store, run, owner, listener) : null;
}

/**
 * Asks the node's running run to stop, wherever it runs: its owner sees the status at its
 * next checkpoint. Returns the stopped run, or null when none was running.
 */
export async function stopRun(store: Store, node: string, at = new Date()): Promise<AudienceRunDoc | null> {
  return runs(store).findOneAndUpdate(
    { _id: node, status: 'running' },
    { $set: { status: 'stopped', finishedAt: at, updatedAt: at } },
    { returnDocument: 'after' },
  );
}

export function findRun(store: Store, node: string): Promise<AudienceRunDoc | null> {
  return runs(store).findOne({ _id: node });
}

/** Waits between chunks so the profiles started per second stay at the rate. */
class Pacer {
  private next = 0;
  constructor(private readonly rate: number) {}

  /** Resolves when `count` more profiles may start; `stopped` cuts a wait short. */
  async take(count: number, stopped: () => boolean): Promise<void> {
    if (this.rate <= 0) return;
    const now = Date.now();
    this.next = Math.max(this.next, now);
    let wait = this.next - now;
    this.next += (count * 1000) / this.rate;
    while (wait > 0 && !stopped()) {
      const step = Math.min(wait, 100);
      await new Promise((resolve) => setTimeout(resolve, step));
      wait -= step;
    }
  }

  /** Profiles per chunk: about a tenth of a second's worth, so pacing stays smooth. */
  chunkSize(): number {
    return this.rate <= 0 ? MAX_CHUNK : Math.max(1, Math.min(MAX_CHUNK, Math.round(this.rate / 10)));
  }
}

export class AudienceRunner {
  private halt: 'stop' | 'release' | null = null;
  private readonly done: Promise<void>;
  private lastCheckpoint = Date.now();
  /** Up to which `_id` a crashed owner may have enrolled past the checkpoint; null for a fresh run. */
  private readonly mayRepeatUpTo: string | null;

  constructor(
    private readonly store: Store,
    private run: AudienceRunDoc,
    private readonly owner: string,
    private readonly listener: RunListener,
  ) {
    this.mayRepeatUpTo = run.reserved ?? null;
    this.done = this.loop();
  }

  get runId(): string {
    return this.run.runId;
  }

  get current(): AudienceRunDoc {
    return this.run;
  }

  /** Resolves when the run has finished, stopped or been released. */
  finished(): Promise<void> {
    return this.done;
  }

  /** Stops the run for good (a stop msg, or its node removed). */
  async stop(): Promise<void> {
    this.halt ??= 'stop';
    await this.done;
  }

  /** Lets go of the run without ending it, for this node or another process to resume. */
  async release(): Promise<void> {
    this.halt ??= 'release';
    await this.done;
  }

  private async loop(): Promise<void> {
    const filter = compileSegment(this.run.rules, this.run.asOf);
    const pacer = new Pacer(this.run.rate);
    const pages = new ProfilePages(this.store.collection<Profile>(COLLECTIONS.profiles), filter, this.run.after);
    const instances = this.store.collection<JourneyInstance>(COLLECTIONS.instances);
    try {
      for (;;) {
        const page = await pages.next();
        const last = page[page.length - 1]?._id;
        if (last !== undefined && (this.run.reserved === null || last > this.run.reserved) && !(await this.reserve(last))) return;
        for (let start = 0; start < page.length && !this.halt; ) {
          const chunk = page.slice(start, start + pacer.chunkSize());
          await pacer.take(chunk.length, () => this.halt !== null);
          if (this.halt) break;
          await this.enrolChunk(chunk, instances);
          start += chunk.length;
          this.run.after = chunk[chunk.length - 1]!._id;
          if (Date.now() - this.lastCheckpoint >= CHECKPOINT_MS && !(await this.checkpoint())) return;
        }
        if (this.halt) break;
        if (page.length < PAGE_SIZE) {
          await this.finish('done');
          return;
        }
      }
      if (this.halt === 'stop') await this.finish('stopped');
      else await this.checkpoint(new Date(0)); // released: free for the next owner at once
    } catch (err) {
      await this.finish('failed', err instanceof Error ? err.message : String(err)).catch(() => undefined);
    } finally {
      await pages.close();
    }
  }

  private async enrolChunk(chunk: Profile[], instances: Collection<JourneyInstance>): Promise<void> {
    const ids = chunk.map((p) => runInstanceId(this.run.runId, p._id));
    // An instance this run made before a crash counts as made, even if the gate has since moved on.
    const made = new Map<string, JourneyInstance>();
    if (this.mayRepeatUpTo !== null && chunk[0]!._id <= this.mayRepeatUpTo) {
      for await (const doc of instances.find({ _id: { $in: ids } })) made.set(doc._id, doc);
    }
    const pending = chunk.flatMap((profile, i) => (made.has(ids[i]!) ? [] : [{ profileId: profile._id, instanceId: ids[i]! }]));
    const enrolled = await enrolMany(
      this.store,
      { journey: this.run.journey, policy: this.run.policy, at: new Date(), entryNode: this.run._id },
      pending,
    );
    let next = 0;
    const outcomes: Enrolment[] = ids.map((id) => {
      const existing = made.get(id);
      return existing ? { status: 'entered', instance: existing, again: true } : enrolled[next++]!;
    });
    outcomes.forEach((outcome, i) => {
      const profile = chunk[i]!;
      if (outcome.status === 'refused') {
        this.run.refused += 1;
        this.listener.refused(profile, outcome.reason, this.run);
        return;
      }
      this.run.entered += 1;
      // Sent on before the crash if any node after the segment has recorded a step.
      const sentBefore = outcome.again === true && (outcome.instance.path.length > 1 || outcome.instance.status !== 'active');
      if (!sentBefore) this.listener.entered(profile, outcome.instance, this.run);
    });
  }

  /** This runner's run, still running and still its own: what every write of it is conditional on. */
  private owned(): Filter {
    return { _id: this.run._id, runId: this.run.runId, owner: this.owner, status: 'running' };
  }

  /** Saves progress and renews the lease (or sets it); false when the run is no longer this runner's. */
  private async checkpoint(leaseUntil?: Date): Promise<boolean> {
    const at = new Date();
    const { after, entered, refused } = this.run;
    const saved = await runs(this.store).findOneAndUpdate(
      this.owned(),
      { $set: { after, entered, refused, updatedAt: at, leaseUntil: leaseUntil ?? new Date(at.getTime() + LEASE_MS) } },
      { returnDocument: 'after' },
    );
    this.lastCheckpoint = Date.now();
    if (!saved) {
      // Stopped from elsewhere (a stop msg in another process) or taken over after a stall.
      const current = await findRun(this.store, this.run._id);
      if (current && current.runId === this.run.runId && current.status !== 'running') {
        this.run = { ...current, after, entered, refused };
        this.listener.finished(runSummary(this.run));
      }
      return false;
    }
    this.listener.progress(this.run);
    return true;
  }

  /** Records the page about to be worked on; false when the run is no longer this runner's. */
  private async reserve(upTo: string): Promise<boolean> {
    const saved = await runs(this.store).updateOne(this.owned(), { $set: { reserved: upTo } });
    if (saved.matched === 0) return this.checkpoint();
    this.run.reserved = upTo;
    return true;
  }

  private async finish(status: Exclude<RunStatus, 'running'>, error?: string): Promise<void> {
    const at = new Date();
    const { after, entered, refused } = this.run;
    const fields = { status, after, entered, refused, updatedAt: at, finishedAt: at, ...(error === undefined ? {} : { error }) };
    const saved = await runs(this.store).findOneAndUpdate(this.owned(), { $set: fields }, { returnDocument: 'after' });
    if (!saved) {
      // Not ours to finish any more; checkpoint reports how it ended if it was stopped elsewhere.
      await this.checkpoint();
      return;
    }
    this.run = saved;
    this.listener.finished(runSummary(saved));
  }
}

/**
 * The matching profiles after a run's checkpoint, in `_id` order, a page at a time from one
 * cursor: one query for the whole audience, where a query per page would cost a store without
 * a range index (the test server) a read of every profile each time. A cursor that breaks
 * after delivering something (a server drops one left idle for ten minutes while a slow rate
 * works through a page) is opened again after the last profile it gave.
 */
class ProfilePages {
  private cursor: AsyncIterator<Profile> | null = null;
  /** Whether the open cursor has given a profile: one that breaks before that fails the run. */
  private delivered = false;

  constructor(
    private readonly profiles: Collection<Profile>,
    private readonly filter: Filter,
    private after: string | null,
  ) {}

  async next(): Promise<Profile[]> {
    const page: Profile[] = [];
    while (page.length < PAGE_SIZE) {
      const cursor = (this.cursor ??= this.open());
      let read: IteratorResult<Profile>;
      try {
        read = await cursor.next();
      } catch (err) {
        if (!this.delivered) throw err;
        await this.close();
        continue;
      }
      if (read.done) break;
      this.delivered = true;
      this.after = read.value._id;
      page.push(read.value);
    }
    return page;
  }

  async close(): Promise<void> {
    const cursor = this.cursor;
    this.cursor = null;
    // A broken cursor may fail to close too; it is being given up either way.
    await cursor?.return?.().catch(() => undefined);
  }

  private open(): AsyncIterator<Profile> {
    this.delivered = false;
    const query = this.after === null ? this.filter : { $and: [this.filter, { _id: { $gt: this.after } }] };
    return this.profiles.find(query, { sort: { _id: 1 }, batchSize: PAGE_SIZE })[Symbol.asyncIterator]();
  }
}
