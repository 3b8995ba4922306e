/**
 * A process's view of its own heartbeat, to know when other processes may have counted it
 * dead and taken its msgs over. A msg whose point was written with its enrolment goes on
 * without writing another (a write per hop costs too much), so nothing in the store stops
 * its copy once another process carries it: the process must notice the lapse itself.
 *
 * The term names a stretch of time during which no other process can have counted this one
 * dead. It changes when a heartbeat is overdue (the process was paused, or its writes did
 * not reach the store), whichever of the two notices first: the clock at the next look, or
 * the next heartbeat to land. A msg marked with an older term must check its point before
 * going on; while a heartbeat is overdue there is no term, and every msg checks.
 */
import type { Liveness } from './resume-points.js';

export class OwnHeartbeat {
  /** `seenAt` of the latest heartbeat the store acknowledged. */
  private lastSeenAt: number | null = null;
  private current = 0;
  /** The overdue stretch now running was already counted. */
  private lapseCounted = false;

  /**
   * `doubtAfterMs` is shorter than the liveness others judge by, by a heartbeat, to leave room
   * for their clocks and their sweep.
   */
  constructor(
    private readonly doubtAfterMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  static for(liveness: Liveness): OwnHeartbeat {
    return new OwnHeartbeat(liveness.deadAfterMs - liveness.heartbeatMs);
  }

  /** The store took a heartbeat that says this process was seen at `seenAt`. */
  acknowledged(seenAt: Date): void {
    const at = seenAt.getTime();
    if (this.lastSeenAt !== null && at <= this.lastSeenAt) return; // an older one landing late
    if (this.lastSeenAt !== null && at - this.lastSeenAt > this.doubtAfterMs && !this.lapseCounted) this.current += 1;
    this.lastSeenAt = at;
    this.lapseCounted = false;
  }

  /** The current term; null while a heartbeat is overdue. None before the first heartbeat: nothing is carried yet. */
  term(): number | null {
    if (this.lastSeenAt === null) return null;
    if (this.now() - this.lastSeenAt <= this.doubtAfterMs) return this.current;
    if (!this.lapseCounted) {
      this.current += 1;
      this.lapseCounted = true;
    }
    return null;
  }
}
