/**
 * The one way this package's nodes handle input: an async handler whose failures reach
 * Catch nodes (as `done(err)`) instead of crashing the runtime, and whose in-flight
 * messages a close handler can wait for before the store goes away.
 */
import type { Done, Node, NodeMessage, NodeMessageInFlow, Send } from './red.js';

export interface InputHandling {
  /** Resolves once every message already received has finished. */
  drain(): Promise<void>;
}

export type InputHandler = (msg: NodeMessageInFlow, send: Send) => Promise<void>;

/** Normalises anything thrown into an Error, keeping a `code` when it had one. */
export function asError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  return new Error(typeof thrown === 'string' ? thrown : JSON.stringify(thrown));
}

export function handleInput(node: Node, handler: InputHandler, onError?: (err: Error) => void): InputHandling {
  const inFlight = new Set<Promise<void>>();
  node.on('input', (msg: NodeMessageInFlow, send: Send, done: Done) => {
    const work = handler(msg, send).then(
      () => done(),
      (thrown: unknown) => {
        const err = asError(thrown);
        onError?.(err);
        done(err);
      },
    );
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work));
  });
  return {
    async drain() {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
  };
}

/** An Error with a `code` a flow can switch on (msg.error.code in a Catch node). */
export function codedError(message: string, code: string): Error & { code: string } {
  return Object.assign(new Error(message), { code });
}

/** What `msg.journey` says, as event-in, split and a resumed wait put it there; each part null when absent. */
export interface JourneyOnMsg {
  name: string | null;
  instanceId: string | null;
  variant: string | null;
  /** Sent again from its resume point after the process carrying it died (see nodes/shared/resume.ts). */
  resumed: boolean;
  /** Per sending node, how many times the msg went through it (see deliveryKey in lib/channels/delivery.ts). */
  passes: Record<string, number>;
}

export function journeyOf(msg: NodeMessage): JourneyOnMsg {
  const raw = (msg as { journey?: unknown }).journey;
  const on = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>) : {};
  const text = (value: unknown) => (typeof value === 'string' ? value : null);
  const passes: Record<string, number> = {};
  if (typeof on.passes === 'object' && on.passes !== null) {
    for (const [node, count] of Object.entries(on.passes)) if (Number.isSafeInteger(count) && (count as number) > 0) passes[node] = count as number;
  }
  return { name: text(on.name), instanceId: text(on.instanceId), variant: text(on.variant), resumed: on.resumed === true, passes };
}

/** Sets parts of `msg.journey`, keeping its others (none when it is not an object). */
export function setOnJourney(msg: NodeMessage, parts: Record<string, unknown>): void {
  const on = typeof msg.journey === 'object' && msg.journey !== null ? msg.journey : {};
  msg.journey = { ...on, ...parts };
}

/** The profile a msg is about: `msg.profileId`, else `msg.profile._id`; null when neither is a non-empty string. */
export function profileIdOf(msg: NodeMessage): string | null {
  const fromMsg = (msg as { profileId?: unknown }).profileId;
  const fromProfile = (msg as { profile?: { _id?: unknown } }).profile?._id;
  const id = typeof fromMsg === 'string' ? fromMsg : fromProfile;
  return typeof id === 'string' && id !== '' ? id : null;
}
