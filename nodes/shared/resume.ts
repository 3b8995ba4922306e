/**
 * Resume points, written from one place: Node-RED's onSend message hook, which runs before
 * a sent msg is routed and delays routing until the promise it returns settles. When a
 * journey node (any node using a journey-store) sends a msg of a journey instance, the
 * instance records where it left before it goes on, so a crash anywhere downstream loses
 * nothing: the journey-store of a live process sends it again from there.
 */
import { inFlight } from './completion.js';
import type { Node, NodeAPI, NodeMessage } from './red.js';

/** Writes the resume point of the instance a msg belongs to, as it leaves output `port` of `node`. */
export type PointWriter = (node: string, port: number, instanceId: string, msg: NodeMessage) => Promise<void>;

/** Journey nodes by id, with the writer of their journey-store; kept by the journey-store as nodes register. */
export const pointWriters = new Map<string, PointWriter>();

/** Msgs whose point was written with their enrolment: their send needs no second write. */
const pointed = new WeakSet<NodeMessage>();
export const markPointed = (msg: NodeMessage): void => void pointed.add(msg);

const LABEL = 'journeys-resume';

interface SendEvent {
  msg: NodeMessage;
  source: { id: string; node: Node; port: number };
}

const instanceOf = (msg: NodeMessage): string | null => {
  const id = (msg as { journey?: { instanceId?: unknown } }).journey?.instanceId;
  return typeof id === 'string' ? id : null;
};

/**
 * Adds the hook, once per runtime. A node sends one msg per instance at a time, so one
 * point per instance and send; a failed write is reported and the msg goes on without it.
 */
export function installResumeHook(RED: NodeAPI): void {
  const hooks = RED.hooks as NodeAPI['hooks'] | undefined;
  if (!hooks) return; // completion says so already: without hooks nothing here works
  hooks.remove(`*.${LABEL}`);
  hooks.add(`onSend.${LABEL}`, (events: SendEvent[]) => {
    let writes: Array<Promise<void>> | null = null;
    const done = new Set<string>();
    for (const { msg, source } of events) {
      const write = pointWriters.get(source.id);
      const instanceId = write ? instanceOf(msg) : null;
      if (!write || !instanceId || done.has(instanceId) || pointed.has(msg)) continue;
      done.add(instanceId);
      // Routing waits for the write; the instance must not complete meanwhile.
      const release = inFlight.hold(instanceId);
      const written = write(source.id, source.port, instanceId, msg)
        .catch((err: Error) => source.node.warn(RED._('journey-store.errors.resume-point-failed', { instance: instanceId, message: err.message })))
        .finally(release);
      (writes ??= []).push(written);
    }
    // Sends outside any journey are not delayed by even a turn.
    return writes ? Promise.all(writes).then(() => undefined) : undefined;
  });
}

/** The msg list that puts `msg` on output `port` of a node. */
export function onPort(msg: NodeMessage, port: number): Array<NodeMessage | null> {
  const out: Array<NodeMessage | null> = new Array<NodeMessage | null>(port + 1).fill(null);
  out[port] = msg;
  return out;
}
