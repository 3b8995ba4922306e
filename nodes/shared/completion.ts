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

/** The followed instance a msg copy carries, with its msg id; null for a msg outside any journey. */
function carried(msg: NodeMessage): { instanceId: string; msgId: string } | null {
  const journey = (msg as { journey?: { instanceId?: unknown } }).journey;
  const msgId: unknown = msg._msgid;
  return typeof journey?.instanceId === 'string' && typeof msgId === 'string' ? { instanceId: journey.instanceId, msgId } : null;
}

const nodeId = (destination: Routed['destination']): string => destination.node?.id ?? destination.id;

/**
 * A node whose input handler takes no `done` never reports completion, so its copy is done
 * once its handler has run. The count of handlers that take `done` is runtime-internal, kept
 * by Node-RED 1.0 and later on every node.
 */
const reportsDone = (node: Node | undefined): boolean => ((node as { _expectedDoneCount?: number } | undefined)?._expectedDoneCount ?? 1) > 0;

/** Adds the hooks, once per runtime: labelled, so a reloaded package replaces rather than doubles them. */
export function installCompletionHooks(RED: NodeAPI): void {
  const hooks = RED.hooks as NodeAPI['hooks'] | undefined;
  if (!hooks) {
    RED.log.warn('journeys: this runtime offers no message hooks, so journey instances will not complete at the end of the flow');
    return;
  }
  hooks.remove(`*.${LABEL}`);
  hooks.add(`preDeliver.${LABEL}`, (event: Routed) => {
    const copy = carried(event.msg);
    if (copy) inFlight.routed(copy.instanceId, nodeId(event.destination), copy.msgId);
  });
  hooks.add(`onReceive.${LABEL}`, (event: Routed) => {
    const copy = carried(event.msg);
    if (copy) inFlight.received(copy.instanceId, nodeId(event.destination), copy.msgId);
  });
  hooks.add(`postReceive.${LABEL}`, (event: Routed) => {
    const copy = carried(event.msg);
    if (copy && !reportsDone(event.destination.node)) inFlight.finished(copy.instanceId, nodeId(event.destination), copy.msgId);
  });
  hooks.add(`onComplete.${LABEL}`, (event: Completed) => {
    const copy = carried(event.msg);
    if (copy) inFlight.finished(copy.instanceId, event.node.id, copy.msgId);
  });
}
