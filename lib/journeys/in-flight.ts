/**
 * Counts the copies of a journey instance's msg that are still on a wire or inside a node,
 * so the instance can complete when the last copy is done: the msg has reached the end of
 * the flow, on every branch. The runtime's message hooks feed it; it knows nothing of them.
 *
 * A copy is keyed by the node holding it and its msg id. It is counted from the moment it is
 * routed to a node (so a node that sends and then finishes never lets the count touch zero
 * between hops) until that node finishes with it.
 */
interface Followed<Owner> {
  owner: Owner;
  copies: number;
  /** node|msgid -> copies routed to that node and not yet received. */
  routed: Map<string, number>;
  /** node|msgid -> copies that node holds. */
  held: Map<string, number>;
  settle: () => void;
  check: NodeJS.Immediate | null;
}

export class InFlight<Owner> {
  private readonly followed = new Map<string, Followed<Owner>>();

  /**
   * Starts following an instance whose msg is about to be sent. `settle` runs once, on the
   * turn after the last copy is done (or after this send, if it reached no node at all).
   */
  follow(instanceId: string, owner: Owner, settle: () => void): void {
    const previous = this.followed.get(instanceId);
    if (previous?.check) clearImmediate(previous.check);
    const entry: Followed<Owner> = { owner, copies: 0, routed: new Map(), held: new Map(), settle, check: null };
    this.followed.set(instanceId, entry);
    this.scheduleCheck(instanceId, entry);
  }

  isFollowing(instanceId: string): boolean {
    return this.followed.has(instanceId);
  }

  /** A copy is routed to `node`. */
  routed(instanceId: string, node: string, msgId: string): void {
    const entry = this.followed.get(instanceId);
    if (!entry) return;
    bump(entry.routed, `${node}|${msgId}`, 1);
    entry.copies += 1;
  }

  /**
   * Counts one copy not yet routed anywhere (a msg whose send waits for a store write), so
   * the instance cannot settle meanwhile; the returned function lets it go. Let go before
   * the copy is routed, it is still counted: settling waits a turn.
   */
  hold(instanceId: string): () => void {
    const entry = this.followed.get(instanceId);
    if (!entry) return () => undefined;
    entry.copies += 1;
    return () => {
      entry.copies -= 1;
      if (entry.copies === 0) this.scheduleCheck(instanceId, entry);
    };
  }

  /** `node` takes a copy: one routed to it, or one handed over directly (link and catch nodes). */
  received(instanceId: string, node: string, msgId: string): void {
    const entry = this.followed.get(instanceId);
    if (!entry) return;
    const key = `${node}|${msgId}`;
    if (!bump(entry.routed, key, -1)) entry.copies += 1;
    bump(entry.held, key, 1);
  }

  /** `node` is done with its copy (sent on or not). */
  finished(instanceId: string, node: string, msgId: string): void {
    const entry = this.followed.get(instanceId);
    if (!entry || !bump(entry.held, `${node}|${msgId}`, -1)) return;
    entry.copies -= 1;
    if (entry.copies === 0) this.scheduleCheck(instanceId, entry);
  }

  /** Stops following the owner's instances, as when its store closes on a redeploy. */
  forgetOwner(owner: Owner): void {
    for (const [id, entry] of this.followed) {
      if (entry.owner !== owner) continue;
      if (entry.check) clearImmediate(entry.check);
      this.followed.delete(id);
    }
  }

  get size(): number {
    return this.followed.size;
  }

  // One turn later, so a node that finishes before it sends has its copy counted first.
  private scheduleCheck(instanceId: string, entry: Followed<Owner>): void {
    if (entry.check) return;
    entry.check = setImmediate(() => {
      entry.check = null;
      if (entry.copies > 0 || this.followed.get(instanceId) !== entry) return;
      this.followed.delete(instanceId);
      entry.settle();
    });
  }
}

/** Adds `by` to a count kept in `counts`; false (and no change) when it would go below zero. */
function bump(counts: Map<string, number>, key: string, by: 1 | -1): boolean {
  const next = (counts.get(key) ?? 0) + by;
  if (next < 0) return false;
  if (next === 0) counts.delete(key);
  else counts.set(key, next);
  return true;
}
