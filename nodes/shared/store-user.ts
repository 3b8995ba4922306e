/**
 * What every store-using node does the same way: find its journey-store, register with
 * it, count its messages on a badge, and on close wait for its in-flight messages before
 * letting go of the store.
 */
import { addNodeCounts, nodeCounts, withDeadline, type Store } from '../../lib/index.js';
import { CountBadge } from './badge.js';
import { handleInput, type InputHandler } from './input.js';
import type { Node, NodeAPI } from './red.js';
import { findStoreConfig, type JourneyStoreConfigNode } from './store-client.js';

export interface StoreUser<K extends string> {
  badge: CountBadge<K>;
  store(): Promise<Store>;
  config: JourneyStoreConfigNode;
}

/**
 * How long a closing node waits to write its last badge counts: a store that does not answer
 * (MongoDB down or frozen) must not keep the journey-store, which waits for its users, from
 * closing within Node-RED's 15 s. Counts not written then are lost; the messages are not.
 */
const FLUSH_ON_CLOSE_MS = 3_000;

/** A node's input handler, and optionally what it must do on close before the store may go. */
export type StoreUserParts = InputHandler | { input: InputHandler; close(removed: boolean): Promise<void> };

export function useStore<K extends string>(
  RED: NodeAPI,
  node: Node,
  storeId: string | undefined,
  badge: {
    textKey: string;
    keys: readonly K[];
    warnKey?: K;
    render?: (counts: Record<K, string>) => string;
    /** The counts are the node's totals kept in the store (across restarts and processes), not since the flow started. */
    kept?: boolean;
  },
  parts: (user: StoreUser<K>) => StoreUserParts,
): void {
  const config: JourneyStoreConfigNode | null = findStoreConfig(RED, storeId);
  if (!config) {
    node.error(RED._('journeys.errors.missing-store'));
    node.status({ fill: 'red', shape: 'ring', text: RED._('journeys.status.no-store') });
    return;
  }
  config.register(node);
  const counts = new CountBadge<K>(RED, node, badge.textKey, badge.keys, badge.warnKey, badge.render);
  if (badge.kept) {
    // Held from the first open: the last counts are written on close, when the config node no longer hands the store out.
    let open: Store | null = null;
    const store = async () => (open ??= await config.getStore());
    counts.keep({
      load: async () => (await nodeCounts(await store(), node.id)) as Partial<Record<K, number>>,
      add: async (delta) => (await addNodeCounts(await store(), node.id, delta)) as Partial<Record<K, number>>,
    });
  }
  const user: StoreUser<K> = { badge: counts, store: () => config.getStore(), config };
  const made = parts(user);
  const { input: handler, close } = typeof made === 'function' ? { input: made, close: undefined } : made;
  const input = handleInput(node, handler, (err) => {
    const code = (err as Error & { code?: string }).code;
    if (code === 'STORE_UNAVAILABLE' || code === 'STORE_CLOSED') {
      counts.problem({ fill: 'red', shape: 'ring', text: RED._('journeys.status.store-unavailable') });
    }
  });
  node.on('close', (removed: boolean, done: () => void) => {
    void input
      .drain()
      .then(() => close?.(removed))
      .then(() => withDeadline(counts.flush(), FLUSH_ON_CLOSE_MS, () => undefined))
      .catch((err: Error) => node.error(err.message))
      .finally(() => {
        counts.clear();
        config.deregister(node);
        done();
      });
  });
}
