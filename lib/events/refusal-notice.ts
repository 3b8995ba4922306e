/**
 * When a node that refuses work under load should say so in the log.
 *
 * Under sustained overload the in-flight count hovers at the limit: each msg that finishes
 * lets one event in, and the next is refused again. Warning each time the node turns busy
 * therefore still warned hundreds of times a second. The first refusal is told at once; after
 * that, at most one warning per interval, with how many were refused since the last one.
 */
export type RefusalWarning = { kind: 'busy' } | { kind: 'still-busy'; refused: number };

export const REFUSAL_WARNING_INTERVAL_MS = 60_000;

export class RefusalNotice {
  private warnedAt = Number.NEGATIVE_INFINITY;
  /** Refusals since the last warning, not yet told. */
  private untold = 0;

  constructor(private readonly intervalMs = REFUSAL_WARNING_INTERVAL_MS) {}

  /** Counts one refusal at `now` (ms); the warning to give, or null while the last one is recent. */
  refuse(now: number): RefusalWarning | null {
    this.untold += 1;
    if (now - this.warnedAt < this.intervalMs) return null;
    const refused = this.untold;
    this.untold = 0;
    this.warnedAt = now;
    // A lone refusal after a quiet interval starts a new episode; more than one means it never ended.
    return refused === 1 ? { kind: 'busy' } : { kind: 'still-busy', refused };
  }
}
