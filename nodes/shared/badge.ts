/**
 * A status badge of live counts ("accepted 12 · rejected 1"). Updates are coalesced so a
 * busy node repaints its badge a few times a second at most, not once per message.
 */
import type { Node, NodeAPI, NodeStatus } from './red.js';

const REPAINT_MS = 250;

export class CountBadge<K extends string> {
  private readonly counts: Record<K, number>;
  private timer: NodeJS.Timeout | null = null;
  private override: NodeStatus | null = null;

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
  }

  bump(key: K, by = 1): void {
    this.counts[key] += by;
    this.repaintSoon();
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
    this.timer = null;
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
