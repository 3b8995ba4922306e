/**
 * Which Agenda job to lock next, without reading every job: per job name, a heap of
 * unlocked jobs by (nextRunAt, priority) and a heap of locked ones by lockedAt (an expired
 * lock may be taken over). The jobs collection stays the truth: the queue is a hint, fed
 * by every write the repository makes, and every candidate it names is claimed with a
 * conditional update that re-checks the stored document. Entries are never corrected in
 * place: a changed job pushes a fresh entry and the stale one is dropped when it surfaces.
 */
export interface JobSummary {
  _id: string;
  name: string;
  nextRunAt: Date | null;
  priority: number;
  lockedAt: Date | null;
  disabled: boolean;
}

interface Entry {
  id: string;
  /** nextRunAt (due heap) or lockedAt (lock heap), in ms. */
  at: number;
  priority: number;
}

/** A binary min-heap on `before`. */
class Heap {
  private readonly items: Entry[] = [];
  constructor(private readonly before: (a: Entry, b: Entry) => boolean) {}

  push(entry: Entry): void {
    const items = this.items;
    items.push(entry);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(items[i]!, items[parent]!)) break;
      [items[i], items[parent]] = [items[parent]!, items[i]!];
      i = parent;
    }
  }

  peek(): Entry | undefined {
    return this.items[0];
  }

  pop(): void {
    const items = this.items;
    const last = items.pop();
    if (!last || items.length === 0) return;
    items[0] = last;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let top = i;
      if (left < items.length && this.before(items[left]!, items[top]!)) top = left;
      if (right < items.length && this.before(items[right]!, items[top]!)) top = right;
      if (top === i) return;
      [items[i], items[top]] = [items[top]!, items[i]!];
      i = top;
    }
  }
}

/** Agenda's order: earliest nextRunAt first, then highest priority. */
const dueOrder = (a: Entry, b: Entry) => a.at < b.at || (a.at === b.at && a.priority > b.priority);
const lockOrder = (a: Entry, b: Entry) => a.at < b.at;

export class DueQueue {
  private readonly jobs = new Map<string, JobSummary>();
  private readonly due = new Map<string, Heap>();
  private readonly locked = new Map<string, Heap>();

  /** Records a job's current state (after any write that may have changed it). */
  track(job: JobSummary): void {
    this.jobs.set(job._id, job);
    if (job.disabled) return;
    if (job.lockedAt) heapFor(this.locked, job.name, lockOrder).push({ id: job._id, at: job.lockedAt.getTime(), priority: job.priority });
    else if (job.nextRunAt) heapFor(this.due, job.name, dueOrder).push({ id: job._id, at: job.nextRunAt.getTime(), priority: job.priority });
  }

  forget(id: string): void {
    this.jobs.delete(id);
  }

  clear(): void {
    this.jobs.clear();
    this.due.clear();
    this.locked.clear();
  }

  /**
   * The job Agenda's query would pick: unlocked and due by `nextScanAt`, or locked before
   * `lockDeadline`; the earliest nextRunAt (then priority) of the two.
   */
  next(name: string, nextScanAt: Date, lockDeadline: Date): JobSummary | undefined {
    const due = this.top(this.due.get(name), (job, entry) => !job.lockedAt && job.nextRunAt?.getTime() === entry.at);
    const expired = this.top(this.locked.get(name), (job, entry) => job.lockedAt?.getTime() === entry.at);
    const dueJob = due && due.at <= nextScanAt.getTime() ? this.jobs.get(due.id) : undefined;
    const expiredJob = expired && expired.at <= lockDeadline.getTime() ? this.jobs.get(expired.id) : undefined;
    if (!dueJob || !expiredJob) return dueJob ?? expiredJob;
    const a = { id: dueJob._id, at: dueJob.nextRunAt?.getTime() ?? Infinity, priority: dueJob.priority };
    const b = { id: expiredJob._id, at: expiredJob.nextRunAt?.getTime() ?? Infinity, priority: expiredJob.priority };
    return dueOrder(b, a) ? expiredJob : dueJob;
  }

  /** The heap's first entry that still describes its job; stale ones are dropped on the way. */
  private top(heap: Heap | undefined, current: (job: JobSummary, entry: Entry) => boolean): Entry | undefined {
    for (let entry = heap?.peek(); entry; entry = heap?.peek()) {
      const job = this.jobs.get(entry.id);
      if (job && !job.disabled && current(job, entry)) return entry;
      heap!.pop();
    }
    return undefined;
  }
}

function heapFor(heaps: Map<string, Heap>, name: string, order: (a: Entry, b: Entry) => boolean): Heap {
  let heap = heaps.get(name);
  if (!heap) heaps.set(name, (heap = new Heap(order)));
  return heap;
}
