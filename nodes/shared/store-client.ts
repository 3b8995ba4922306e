/**
 * How a node reaches its journey-store config node: the config node owns the open store
 * and counts its users, so it closes the store only after the last of them has finished.
 */
import type { ResumeHandler, ResumePoint, Store, Waits } from '../../lib/index.js';
import type { Node, NodeAPI, NodeMessage } from './red.js';

export interface JourneyStoreConfigNode extends Node {
  /** The open store; opens (or re-tries opening) it on first use. */
  getStore(): Promise<Store>;
  /** The public URL of Node-RED's HTTP root (no trailing slash), for links put in messages. */
  publicUrl(): string;
  register(user: Node): void;
  deregister(user: Node): void;
  /** The store's durable waits (starting its Agenda on first use). */
  getWaits(): Promise<Waits>;
  /** The waits when this runtime already runs them; nothing waits here otherwise. */
  runningWaits(): Waits | null;
  /** Completes the instance once the msg about to be sent for it has reached the end of the flow. */
  followInstance(instanceId: string): void;
  /**
   * This process's term (see OwnHeartbeat): a msg marked with it may skip writing its point
   * while it lasts. Null while the heartbeat is overdue.
   */
  term(): number | null;
  /** A resume point of this process for `msg` leaving output `port` of `node` (written with an enrolment). */
  resumePoint(node: string, port: number, msg: NodeMessage): Promise<ResumePoint>;
  /** What a wait node does with its resumed instances; the returned function unregisters it. */
  onResume(node: string, handler: ResumeHandler): () => void;
}

export function findStoreConfig(RED: NodeAPI, id: string | undefined): JourneyStoreConfigNode | null {
  if (!id) return null;
  const node = RED.nodes.getNode(id) as JourneyStoreConfigNode | null;
  return node && typeof node.getStore === 'function' ? node : null;
}
