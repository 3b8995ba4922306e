/** What send-push sees of an fcm-account config node. */
import type { Delivery } from '../../lib/index.js';
import type { AccountNode } from '../shared/sender.js';

export type BadTokenHandler = (delivery: Delivery, tokens: string[]) => Promise<void>;

export interface FcmAccountNode extends AccountNode {
  /** Registers what to do with dead tokens of deliveries sent by node `nodeId`; returns the way to stop. */
  onBadTokens(nodeId: string, handler: BadTokenHandler): () => void;
}
