/**
 * Resume points, written from one place: Node-RED's onSend message hook, which runs before
 * a sent msg is routed and delays routing until the promise it returns settles. When a
 * journey node (any node using a journey-store) sends a msg of a journey instance, the
 * instance records where it left before it goes on, so a crash anywhere downstream loses
 * nothing: the journey-store of a live process sends it again from there.
 */
import type { PointOutcome } from '../../lib/index.js';
import { inFlight } from './completion.js';
import type { Node, NodeAPI, NodeMessage } from './red.js';

/** How a journey node's sends are pointed: its journey-store's writer, and the term of the process carrying them. */
export interface PointCarrier {
  /** Writes the resume point of the instance a msg belongs to, as it leaves output `port` of `node`. */
  writePoint(node: string, port: number, instanceId: string, msg: NodeMessage): Promise<PointOutcome>;
  /** See OwnHeartbeat: null while this process may be counted dead. */
  term(): number | null;
}

/** Journey nodes by id, with their journey-store's carrier; kept by the journey-store as nodes register. */
export const carriers = new Map<string, PointCarrier>();

/**
 * Msgs whose point is already written (with their enrolment), by the term it was written in:
 * their sends need no second write while the term lasts. Once it ended, another process may
 * have taken them over, and the next send writes (and so checks) the point again.
 */
const pointed = new WeakMap<NodeMessage, number>();
export const markPointed = (msg: NodeMessage, term: number | null): void => {
  if (term !== null) pointed.set(msg, term);
};

const LABEL = 'journeys-resume';

interface SendEvent {
  msg: NodeMessage;
  source: { id: string; node: Node; port: number };
}

const instanceOf = (msg: NodeMessage): string | null => {
  const id = (msg as { journey?: { instanceId?: unknown } }).journey?.instanceId;
  return typeof id === 'string' ? id : null;
};

/** Per journey node, the last of its sends still waiting for points: later sends wait for it too. */
const pending = new Map<string, Promise<void>>();

/**
 * Adds the hook, once per runtime. A node sends one msg per instance at a time, so one
 * point per instance and send; a failed write is reported and the msg goes on without it.
 * The writes run side by side, but a node's sends are still delivered in the order it made
 * them (an audience run's summary after its msgs), whether they carry an instance or not.
 */
export function installResumeHook(RED: NodeAPI): void {
  const hooks = RED.hooks as NodeAPI['hooks'] | undefined;
  if (!hooks) return; // completion says so already: without hooks nothing here works
  hooks.remove(`*.${LABEL}`);
  hooks.add(`onSend.${LABEL}`, (events: SendEvent[]) => {
    const source = events[0]?.source;
    if (!source || !carriers.has(source.id)) return undefined;
    const waits: Array<Promise<void>> = [];
    const before = pending.get(source.id);
    if (before) waits.push(before);
    const instances = new Set<string>();
    const written = new Set<string>();
    const taken = new Set<string>();
    for (const { msg, source: from } of events) {
      const instanceId = instanceOf(msg);
      if (!instanceId) continue;
      const carrier = carriers.get(from.id);
      const term = carrier?.term() ?? null;
      // A msg pointed in this very term needs no write (a term is never undefined, nor a mark null).
      const mark = pointed.get(msg);
      if (carrier && !written.has(instanceId) && mark !== term) {
        written.add(instanceId);
        waits.push(
          carrier.writePoint(from.id, from.port, instanceId, msg).then(
            (outcome) => {
              if (outcome === 'taken') taken.add(instanceId);
              // Checked and still this process's: pointed again, for this term.
              else if (outcome === 'recorded' && mark !== undefined) markPointed(msg, term);
            },
            (err: Error) => from.node.warn(RED._('journey-store.errors.resume-point-failed', { instance: instanceId, message: err.message })),
          ),
        );
      }
      instances.add(instanceId);
    }
    // Sends outside any journey, with nothing before them, are not delayed by even a turn.
    if (waits.length === 0) return undefined;
    // Routing waits for the writes (and the node's earlier sends). Every instance sent here
    // must stay uncompleted meanwhile, also one whose msg needs no write of its own but
    // queues behind another's: its node may finish before its msg is routed.
    const releases = [...instances].map((id) => inFlight.hold(id));
    const sent = Promise.all(waits).then(() => {
      if (taken.size === 0) return;
      // Another process carries these msgs on now (this one went unheard long enough to count
      // as dead: paused, or cut off from the store): this copy goes no further. The runtime
      // routes what is left in `events`.
      for (let i = events.length - 1; i >= 0; i--) {
        const id = instanceOf(events[i]!.msg);
        if (id !== null && taken.has(id)) events.splice(i, 1);
      }
      for (const id of taken) source.node.warn(RED._('journey-store.errors.taken-over', { instance: id }));
    });
    pending.set(source.id, sent);
    // Registered before the runtime's own continuation, so a copy is let go just before it is routed (and counted).
    void sent.then(() => {
      for (const release of releases) release();
      if (pending.get(source.id) === sent) pending.delete(source.id);
    });
    return sent;
  });
}

/** The msg list that puts `msg` on output `port` of a node. */
export function onPort(msg: NodeMessage, port: number): Array<NodeMessage | null> {
  const out: Array<NodeMessage | null> = new Array<NodeMessage | null>(port + 1).fill(null);
  out[port] = msg;
  return out;
}
