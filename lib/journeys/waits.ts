/**
 * Durable waits: a waiting instance is a store document (status, snapshot, what it waits
 * for) plus an Agenda job for its deadline. Whatever ends the wait — the timer, the event
 * it waits for, an exit — goes through `resume` or `endInstance`, conditional writes of
 * which exactly one wins, so a wait ends once even when a timer and an event race or when
 * several processes run the same flow.
 *
 * Parking the instance and saving its job are two writes. The instance is parked first (a
 * job saved first could fall due and find nothing waiting yet) and marked `timerPending`
 * until its job is saved; a process that dies in between leaves the mark, and
 * `recoverTimers` saves the job it did not (a save is idempotent: unique, insert-only).
 *
 * Each parking has its own id, in the instance and in its job. An instance can park at the
 * same wait node again while the job of its last parking still exists: a flow that loops back
 * to the wait resumes into it while that job is still running, and a process killed after
 * running a job but before Agenda removed it leaves the job behind, finished, never to run
 * again, for the takeover's re-parking to find. Keyed by instance and node alone, the new
 * timer was that old job, and the wait never fired. The id also keeps an old job from
 * resuming a later parking.
 */
import type { Agenda, Job } from 'agenda' with { 'resolution-mode': 'import' };
import { randomUUID } from 'node:crypto';
import type { Store } from '../store/port.js';
import { SharedTrips } from '../store/shared-trips.js';
import { COLLECTIONS } from '../store/schema.js';
import type { JsonObject } from '../validate/document.js';
import type { JourneyInstance } from './instance.js';
import { endInstance, endMatching } from './lifecycle.js';

export const WAIT_JOB = 'journeys.wait';

export interface WaitJobData {
  instanceId: string;
  node: string;
  /** The parking this timer ends; absent on jobs saved before parkings had ids. */
  waitId?: string;
}

/**
 * A timer whose firing failed (the store refused the resume's write) is tried again, less
 * often each time, never given up: Agenda keeps a failed one-time job but never runs it
 * again, and its wait would never end. Once the instance has been resumed, a further run
 * finds it no longer waiting and does nothing.
 */
function retryFiringIn(attempt: number): number {
  return Math.min(1_000 * 2 ** (attempt - 1), 60_000);
}

/** Job data is matched whole (and on MongoDB in key order) when a job is cancelled: built here only. */
const jobData = (instanceId: string, node: string, waitId: string | undefined): WaitJobData => ({ instanceId, node, ...(waitId ? { waitId } : {}) });

export type WaitOutcome = 'timer' | 'event' | 'timeout';

export interface Resumed {
  instance: JourneyInstance;
  snapshot: JsonObject;
  outcome: WaitOutcome;
  /** The event that ended an event wait. */
  event?: JsonObject;
}

export type ResumeHandler = (resumed: Resumed) => Promise<void>;

export interface WaitRequest {
  instanceId: string;
  node: string;
  snapshot: JsonObject;
  /** When the timer fires (the deadline of an event wait). */
  until: Date;
  /** Wait for this event instead; `until` is then its timeout. */
  forEvent?: string;
}

export class Waits {
  private readonly handlers = new Map<string, ResumeHandler>();
  /** Every event asks this; the events arriving together ask it in one query. */
  private readonly waitingFor = new SharedTrips<{ profileId: string; name: string }, JourneyInstance[]>((asked) => this.findWaiting(asked), {
    maxWeight: 500,
    maxInFlight: 2,
  });

  /**
   * `owner` is the process resuming instances here (see resume-points.ts): a resumed
   * instance is marked as carried by it, so no other process takes its msg over meanwhile.
   */
  constructor(
    private readonly store: Store,
    private readonly agenda: Agenda,
    private readonly owner?: string,
  ) {
    // A fired wait's job has done its work (the instance records the outcome): removing it
    // keeps the jobs collection as large as the number of waits still pending.
    agenda.define<WaitJobData>(WAIT_JOB, (job: Job<WaitJobData>) => this.fire(job.attrs.data), {
      removeOnComplete: true,
      backoff: ({ attempt }) => retryFiringIn(attempt),
    });
  }

  /** Registers what a wait node does with resumed instances. */
  register(node: string, handler: ResumeHandler): void {
    this.handlers.set(node, handler);
  }

  /** Removes a node's handler, unless another has replaced it meanwhile. */
  unregister(node: string, handler: ResumeHandler): void {
    if (this.handlers.get(node) === handler) this.handlers.delete(node);
  }

  async wait(request: WaitRequest): Promise<boolean> {
    const instances = this.store.collection<JourneyInstance>(COLLECTIONS.instances);
    const waitId = randomUUID();
    const parked = await instances.updateOne(
      { _id: request.instanceId, status: 'active' },
      {
        $set: {
          status: 'waiting',
          waitId,
          snapshot: request.snapshot,
          waitingAt: request.node,
          waitingFor: request.forEvent ?? null,
          waitUntil: request.until,
          timerPending: true,
          updatedAt: new Date(),
        },
      },
    );
    if (parked.modified !== 1) return false;
    await this.saveTimer(request.instanceId, request.node, request.until, waitId);
    return true;
  }

  private async saveTimer(instanceId: string, node: string, until: Date, waitId: string | undefined): Promise<void> {
    const data = jobData(instanceId, node, waitId);
    // Unique on every field of the data: one job per parking.
    const unique = Object.fromEntries(Object.entries(data).map(([key, value]) => [`data.${key}`, value]));
    await this.agenda
      .create<WaitJobData>(WAIT_JOB, data)
      .unique(unique, { insertOnly: true })
      .schedule(until)
      .save();
    await this.store.collection<JourneyInstance>(COLLECTIONS.instances).updateOne({ _id: instanceId, timerPending: true }, { $unset: { timerPending: '' } });
  }

  /**
   * Saves the timers of waits parked at least `olderThanMs` ago whose job was never saved
   * (their process died between the two writes); returns how many.
   */
  async recoverTimers(olderThanMs = 30_000, now = new Date()): Promise<number> {
    const stuck: JourneyInstance[] = [];
    for await (const doc of this.store
      .collection<JourneyInstance>(COLLECTIONS.instances)
      .find({ timerPending: true, status: 'waiting', updatedAt: { $lt: new Date(now.getTime() - olderThanMs) } })) {
      stuck.push(doc);
    }
    for (const doc of stuck) {
      // A parked wait always has both; a document without them was not parked by this code.
      if (doc.waitingAt && doc.waitUntil) await this.saveTimer(doc._id, doc.waitingAt, doc.waitUntil, doc.waitId);
    }
    return stuck.length;
  }

  /**
   * Removes wait jobs Agenda ran but a killed process never removed (finished at least
   * `olderThanMs` ago, unlocked, not due again): they can never run, and, keyed by their
   * parking, block nothing; this only keeps them from piling up. Returns how many.
   */
  async removeLeftoverTimers(olderThanMs = 60_000, now = new Date()): Promise<number> {
    const ids: string[] = [];
    for await (const job of this.store
      .collection(COLLECTIONS.agendaJobs)
      .find({ name: WAIT_JOB, nextRunAt: null, lockedAt: null, lastFinishedAt: { $lt: new Date(now.getTime() - olderThanMs) } }, { projection: { _id: 1 } })) {
      ids.push(String(job._id));
    }
    // Through Agenda, so the embedded backend's due queue hears of it too.
    return ids.length > 0 ? this.agenda.cancel({ ids }) : 0;
  }

  /** An event arrived for a profile: resumes the instances waiting for it. */
  async eventArrived(profileId: string, name: string, event: JsonObject): Promise<number> {
    const waiting = await this.waitingFor.submit({ profileId, name });
    let resumed = 0;
    for (const doc of waiting) if (await this.resume(doc._id, doc.waitingAt ?? '', 'event', doc.waitId, event)) resumed += 1;
    return resumed;
  }

  /** For each profile and event name asked, the profile's instances waiting for that event. */
  private async findWaiting(asked: Array<{ profileId: string; name: string }>): Promise<Array<PromiseSettledResult<JourneyInstance[]>>> {
    const found: JourneyInstance[] = [];
    const filter = { profileId: { $in: [...new Set(asked.map((a) => a.profileId))] }, status: 'waiting', waitingFor: { $in: [...new Set(asked.map((a) => a.name))] } };
    for await (const doc of this.store.collection<JourneyInstance>(COLLECTIONS.instances).find(filter)) found.push(doc);
    return asked.map(({ profileId, name }) => ({ status: 'fulfilled', value: found.filter((d) => d.profileId === profileId && d.waitingFor === name) }));
  }

  /** Drops the timers of instances that ended some other way (exit, goal, merge). */
  async cancel(ended: Array<Pick<JourneyInstance, '_id' | 'waitingAt' | 'waitId'>>): Promise<void> {
    for (const instance of ended) {
      if (instance.waitingAt) await this.agenda.cancel({ data: jobData(instance._id, instance.waitingAt, instance.waitId) });
    }
  }

  /** A wait node left the flow: its waiting instances end, with the reason, instead of firing into nothing. */
  async endWaitingAt(node: string, reason: string): Promise<number> {
    const ended = await endMatching(this.store, { status: 'waiting', waitingAt: node }, 'exited', reason, new Date());
    await this.cancel(ended);
    return ended.length;
  }

  countWaiting(node: string): Promise<number> {
    return this.store.collection<JourneyInstance>(COLLECTIONS.instances).count({ status: 'waiting', waitingAt: node });
  }

  private async fire(data: WaitJobData): Promise<void> {
    await this.resume(data.instanceId, data.node, 'timer', data.waitId);
  }

  /**
   * Wins or loses the race to end one wait; the winner hands the instance to its node. `by`
   * is what ended the wait: its timer (a timeout for an event wait) or the awaited event.
   * `waitId` is the parking to end; without one (a job saved before parkings had ids),
   * whichever parking is at `node`.
   */
  private async resume(instanceId: string, node: string, by: 'timer' | 'event', waitId: string | undefined, event?: JsonObject): Promise<boolean> {
    const handler = this.handlers.get(node);
    const instances = this.store.collection<JourneyInstance>(COLLECTIONS.instances);
    const at = new Date();
    // Winning the race and recording the step on the path are one write: a resume is the
    // hot path when many waits fall due together.
    const before = await instances.findOneAndUpdate(
      { _id: instanceId, status: 'waiting', waitingAt: node, ...(waitId ? { waitId } : {}) },
      {
        // The point stays where the msg entered the wait: if this process dies before the
        // wait node sends it on, it is sent into the wait again (and waits once more).
        $set: { status: 'active', updatedAt: at, ...(this.owner ? { 'resume.owner': this.owner, 'resume.at': at } : {}) },
        $unset: { snapshot: '', waitingAt: '', waitingFor: '', waitUntil: '', timerPending: '', waitId: '' },
        ...(handler ? { $push: { path: { node, at } } } : {}),
      },
      { returnDocument: 'before' },
    );
    if (!before) return false;
    const outcome: WaitOutcome = by === 'event' ? 'event' : before.waitingFor ? 'timeout' : 'timer';
    if (by === 'event') await this.agenda.cancel({ data: jobData(instanceId, node, before.waitId) });
    if (!handler) {
      await endInstance(this.store, instanceId, 'exited', `wait node ${node} is no longer in the flow`, at);
      return false;
    }
    const { snapshot: _snapshot, waitingAt: _at, waitingFor: _for, waitUntil: _until, timerPending: _pending, waitId: _waitId, ...rest } = before;
    const instance: JourneyInstance = { ...rest, status: 'active', updatedAt: at, path: [...before.path, { node, at }] };
    await handler({ instance, snapshot: before.snapshot ?? {}, outcome, ...(event ? { event } : {}) });
    return true;
  }
}
