/**
 * A status badge of live counts ("accepted 12 · rejected 1"). Updates are coalesced so a
 * busy node repaints its badge a few times a second at most, not once per message. Kept in
 * the store (`keep`), the counts are the node's totals across restarts and processes:
 * increments are written once a second at most, and totals re-read every half minute.
 */
import type { Node, NodeAPI, NodeStatus } from './red.js';

const REPAINT_MS = 250;
const FLUSH_MS = 1_000;
const RELOAD_MS = 30_000;

/** Where a badge's totals are kept. */
export interface BadgeStore<K extends string> {
  load(): Promise<Partial<Record<K, number>>>;
  /** Adds the increments; resolves with the totals after them. */
  add(delta: Record<K, number>): Promise<Partial<Record<K, number>>>;
}

export class CountBadge<K extends string> {
  private readonly counts: Record<K, number>;
  private timer: NodeJS.Timeout | null = null;
  private override: NodeStatus | null = null;
  private kept: BadgeStore<K> | null = null;
  /** Increments not yet written to the kept totals. */
  private pending: Record<K, number>;
  private flushTimer: NodeJS.Timeout | null = null;
  private reloadTimer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly RED: NodeAPI,
    private readonly node: Node,
    /** i18n key of the text, with a placeholder per count, e.g. "event-in.status.counts". */
    private textKey: string,
    keys: readonly K[],
    /** Which count, when non-zero, turns the dot yellow. */
    private readonly warnKey?: K,
    /** Builds the text instead of `textKey`, for counts only known at deploy (a split's branches). */
    private readonly render?: (counts: Record<K, string>) => string,
  ) {
    this.counts = Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;
    this.pending = Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;
  }

  /** Keeps the counts in `store`: shows its totals now and from then on. */
  keep(store: BadgeStore<K>): void {
    this.kept = store;
    const reload = () =>
      void store.load().then(
        (totals) => this.setTotals(totals),
        () => undefined, // the store is down: the badge shows what it knew, the next reload tries again
      );
    reload();
    this.reloadTimer = setInterval(reload, RELOAD_MS);
  }

  /** Writes what is pending (on close, before the store goes). */
  flush(): Promise<void> {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    const kept = this.kept;
    if (!kept || Object.values(this.pending).every((n) => n === 0)) return this.flushing;
    const delta = this.pending;
    this.pending = Object.fromEntries(Object.keys(delta).map((k) => [k, 0])) as Record<K, number>;
    this.flushing = this.flushing
      .then(() => kept.add(delta))
      .then(
        (totals) => this.setTotals(totals),
        () => {
          // Not written: keep it for the next flush.
          for (const k of Object.keys(delta) as K[]) this.pending[k] += delta[k];
        },
      );
    return this.flushing;
  }

  private setTotals(totals: Partial<Record<K, number>>): void {
    for (const k of Object.keys(this.counts) as K[]) this.counts[k] = (totals[k] ?? 0) + this.pending[k];
    this.repaintSoon();
  }

  bump(key: K, by = 1): void {
    this.counts[key] += by;
    this.repaintSoon();
    if (this.kept) {
      this.pending[key] += by;
      this.flushTimer ??= setTimeout(() => void this.flush(), FLUSH_MS);
    }
  }

  /** Counts kept elsewhere (an audience run's, from the store), shown with the text for their state. */
  show(textKey: string, counts: Record<K, number>): void {
    this.textKey = textKey;
    Object.assign(this.counts, counts);
    this.repaintSoon();
  }

  /** Shows a problem (e.g. the store is unreachable) until the next count. */
  problem(status: NodeStatus): void {
    this.override = status;
    this.paint();
  }

  value(key: K): number {
    return this.counts[key];
  }

  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.flushTimer) clearTimeout(this.flushTimer);
    if (this.reloadTimer) clearInterval(this.reloadTimer);
    this.timer = this.flushTimer = this.reloadTimer = null;
    this.kept = null;
    this.node.status({});
  }

  private repaintSoon(): void {
    this.override = null;
    this.timer ??= setTimeout(() => {
      this.timer = null;
      this.paint();
    }, REPAINT_MS);
  }

  private paint(): void {
    if (this.override) {
      this.node.status(this.override);
      return;
    }
    const formatted = Object.fromEntries(
      Object.entries(this.counts).map(([k, v]) => [k, (v as number).toLocaleString('en-US')]),
    ) as Record<K, string>;
    const warn = this.warnKey !== undefined && this.counts[this.warnKey] > 0;
    const text = this.render ? this.render(formatted) : this.RED._(this.textKey, formatted);
    this.node.status({ fill: warn ? 'yellow' : 'green', shape: 'dot', text });
  }
}
