/**
 * Completes a journey instance when its msg reaches the end of the flow. Node-RED's message
 * hooks report every routing, receipt and completion in the runtime; the copies carrying a
 * followed instance's id are counted in lib's InFlight, which settles the instance when the
 * last copy is done.
 */
import { InFlight } from '../../lib/index.js';
import type { Node, NodeAPI, NodeMessage } from './red.js';

/** Followed instances, by the id of the journey-store that owns them. */
export const inFlight = new InFlight<string>();

const LABEL = 'journeys-completion';

interface Routed {
  msg: NodeMessage;
  destination: { id: string; node?: Node };
}
interface Completed {
  msg: NodeMessage;
  node: { id: string; node: Node };
}

/** What a msg copy is counted under in an InFlight (its followed id) and its msg id; null for a copy not counted. */
export type CopyKey = (msg: NodeMessage) => { followed: string; msgId: string } | null;

/** The followed instance a msg copy carries, with its msg id; null for a msg outside any journey. */
const carried: CopyKey = (msg) => {
  const journey = (msg as { journey?: { instanceId?: unknown } }).journey;
  const msgId: unknown = msg._msgid;
  return typeof journey?.instanceId === 'string' && typeof msgId === 'string' ? { followed: journey.instanceId, msgId } : null;
};

const nodeId = (destination: Routed['destination']): string => destination.node?.id ?? destination.id;

/**
 * A node whose input handler takes no `done` never reports completion, so its copy is done
 * once its handler has run. The count of handlers that take `done` is runtime-internal, kept
 * by Node-RED 1.0 and later on every node.
 */
const reportsDone = (node: Node | undefined): boolean => ((node as { _expectedDoneCount?: number } | undefined)?._expectedDoneCount ?? 1) > 0;

/**
 * Feeds `counter` from a runtime's message hooks with every copy `key` names. Labelled, so
 * adding them again under the same label (a reloaded package) replaces rather than doubles them.
 */
export function countCopies<Owner>(hooks: NodeAPI['hooks'], label: string, counter: InFlight<Owner>, key: CopyKey): void {
  hooks.remove(`*.${label}`);
  hooks.add(`preDeliver.${label}`, (event: Routed) => {
    const copy = key(event.msg);
    if (copy) counter.routed(copy.followed, nodeId(event.destination), copy.msgId);
  });
  hooks.add(`onReceive.${label}`, (event: Routed) => {
    const copy = key(event.msg);
    if (copy) counter.received(copy.followed, nodeId(event.destination), copy.msgId);
  });
  hooks.add(`postReceive.${label}`, (event: Routed) => {
    const copy = key(event.msg);
    if (copy && !reportsDone(event.destination.node)) counter.finished(copy.followed, nodeId(event.destination), copy.msgId);
  });
  hooks.add(`onComplete.${label}`, (event: Completed) => {
    const copy = key(event.msg);
    if (copy) counter.finished(copy.followed, event.node.id, copy.msgId);
  });
}

/** Adds the hooks, once per runtime. */
export function installCompletionHooks(RED: NodeAPI): void {
  const hooks = RED.hooks as NodeAPI['hooks'] | undefined;
  if (!hooks) {
    RED.log.warn('journeys: this runtime offers no message hooks, so journey instances will not complete at the end of the flow');
    return;
  }
  countCopies(hooks, LABEL, inFlight, carried);
}
