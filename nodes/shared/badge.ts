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
    private readonly textKey: string,
    keys: readonly K[],
    /** Which count, when non-zero, turns the dot yellow. */
    private readonly warnKey?: K,
  ) {
    this.counts = Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;
  }

  bump(key: K, by = 1): void {
    this.counts[key] += by;
    this.override = null;
    this.timer ??= setTimeout(() => {
      this.timer = null;
      this.paint();
    }, REPAINT_MS);
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

  private paint(): void {
    if (this.override) {
      this.node.status(this.override);
      return;
    }
    const formatted = Object.fromEntries(
      Object.entries(this.counts).map(([k, v]) => [k, (v as number).toLocaleString('en-US')]),
    );
    const warn = this.warnKey !== undefined && this.counts[this.warnKey] > 0;
    this.node.status({ fill: warn ? 'yellow' : 'green', shape: 'dot', text: this.RED._(this.textKey, formatted) });
  }
}
