/**
 * journey-store (config): where profiles, events and journeys live. Embedded by default
 * (a journal under the Node-RED user directory), or a MongoDB database whose connection
 * string is kept as a credential.
 */
import { randomUUID } from 'node:crypto';
import { isAbsolute, join, resolve } from 'node:path';
import type { Agenda } from 'agenda' with { 'resolution-mode': 'import' };
import {
  acquireStore,
  completeInstances,
  CompletionQueue,
  createAgenda,
  DEFAULT_LIVENESS,
  heartbeat,
  OwnHeartbeat,
  recordResumePoint,
  Waits,
  withDeadline,
  type ResumeHandler,
  type ResumePoint,
  type Store,
  type StoreConfig,
  type StoreLease,
} from '../../lib/index.js';
import { inFlight, installCompletionHooks } from '../shared/completion.js';
import { snapshotOf } from '../shared/hold.js';
import { codedError } from '../shared/input.js';
import { registerReportsApi } from '../shared/reports-api.js';
import { carriers, installResumeHook, type PointCarrier } from '../shared/resume.js';
import { resumeStranded } from '../shared/resume-stranded.js';
import type { JourneyStoreConfigNode } from '../shared/store-client.js';
import { registerNode, type Node, type NodeAPI, type NodeDef, type NodeMessageInFlow } from '../shared/red.js';

interface JourneyStoreDef extends NodeDef {
  backend?: 'embedded' | 'mongodb';
  directory?: string;
  database?: string;
  publicUrl?: string;
}

interface Credentials {
  uri?: string;
}

/** A failed open is retried on a later message, but not more often than this. */
const RETRY_OPEN_MS = 5_000;
/** How long close waits for users to finish their in-flight messages. */
const CLOSE_WAIT_MS = 10_000;
/**
 * How long close may spend handing over in order (pending completions, the takeover mark,
 * Agenda's locks) before the store is let go regardless: against a MongoDB that is down or
 * frozen each of those writes waits for it, and the redeploy would hit Node-RED's own 15 s
 * close limit with the connection still open. What was not handed over is recovered as
 * after a crash.
 */
const CLOSE_HANDOVER_MS = 3_000;
/** How often a store looks for journey msgs that a stopped process was carrying. */
const RESUME_EVERY_MS = 15_000;
/** Finished timers killed processes left: harmless, so looked for when the timers start, then rarely (on the embedded store it reads every timer). */
const LEFTOVER_TIMERS_EVERY_MS = 10 * 60_000;

export = function (RED: NodeAPI): void {
  installCompletionHooks(RED);
  installResumeHook(RED);
  function JourneyStoreNode(this: JourneyStoreConfigNode, def: JourneyStoreDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const credentials = (node.credentials ?? {}) as Credentials;
    const users = new Set<Node>();
    let lease: Promise<StoreLease> | null = null;
    let failedAt = 0;
    let closing = false;
    let usersGone: (() => void) | null = null;
    const resumeHandlers = new Map<string, ResumeHandler>();
    let waits: Promise<{ waits: Waits; agenda: Agenda }> | null = null;
    let running: Waits | null = null;
    function removeLeftoverTimers(): void {
      running
        ?.removeLeftoverTimers()
        .then((count) => count > 0 && node.log(RED._('journey-store.log.leftover-timers', { count })))
        // A redeploy may close the store under it: that is not worth a warning.
        .catch((err: Error) => closing || node.warn(RED._('journey-store.errors.leftover-timers-failed', { message: err.message })));
    }

    const config = storeConfig(RED, def, credentials);
    /** This start of the store, as the carrier of journey msgs: a new one per start, so a restart can take over its predecessor's. */
    const owner = randomUUID();

    node.getStore = async (): Promise<Store> => {
      if (closing) throw codedError(RED._('journey-store.errors.closing'), 'STORE_CLOSED');
      if (!lease) {
        if (config.kind === 'mongodb' && !config.uri) {
          throw codedError(RED._('journey-store.errors.no-uri'), 'STORE_CONFIG');
        }
        if (Date.now() - failedAt < RETRY_OPEN_MS) {
          throw codedError(RED._('journey-store.errors.unavailable'), 'STORE_UNAVAILABLE');
        }
        lease = acquireStore(config);
        lease.then(
          (l) => node.log(RED._('journey-store.log.opened', { store: l.store.description })),
          (err: Error) => {
            failedAt = Date.now();
            lease = null;
            node.error(RED._('journey-store.errors.open-failed', { message: err.message }));
          },
        );
      }
      return (await lease).store;
    };

    node.getWaits = async (): Promise<Waits> => {
      waits ??= (async () => {
        const store = await node.getStore();
        const agenda = await createAgenda(store, { name: `node-red:${process.pid}` });
        const created = new Waits(store, agenda, owner);
        for (const [id, handler] of resumeHandlers) created.register(id, handler);
        // A resumed wait names this process as its carrier: alive before the first can fire.
        await isAlive();
        await agenda.start();
        running = created;
        removeLeftoverTimers();
        return { waits: created, agenda };
      })();
      waits.catch(() => {
        waits = null;
      });
      return (await waits).waits;
    };
    node.runningWaits = () => running;
    node.onResume = (id: string, handler: ResumeHandler) => {
      resumeHandlers.set(id, handler);
      running?.register(id, handler);
      return () => {
        if (resumeHandlers.get(id) === handler) resumeHandlers.delete(id);
        running?.unregister(id, handler);
      };
    };

    // Written through the lease itself: completions still pending at close go out before it is released.
    const completions = new CompletionQueue(
      async (ids) => (lease ? completeInstances((await lease).store, ids, new Date(), owner) : undefined),
      (err, ids) =>
        node.error(
          RED._('journey-store.errors.complete-failed', {
            instance: ids.length === 1 ? ids[0] : `${ids[0]} (and ${ids.length - 1} more)`,
            message: err.message,
          }),
        ),
    );
    node.followInstance = (instanceId: string) => {
      inFlight.follow(instanceId, node.id, () => completions.add(instanceId));
    };

    node.publicUrl = () => publicUrlOf(RED, def);

    // Alive from the first point on: the first heartbeat is written before any point names this owner.
    let alive: Promise<void> | null = null;
    const ownHeartbeat = OwnHeartbeat.for(DEFAULT_LIVENESS);
    const beat = async () => {
      const store = await node.getStore();
      const seenAt = new Date();
      await heartbeat(store, owner, seenAt);
      ownHeartbeat.acknowledged(seenAt);
    };
    const isAlive = () => (alive ??= beat().catch((err: Error) => {
      alive = null;
      throw err;
    }));
    const heartbeats = setInterval(() => {
      if (alive) beat().catch((err: Error) => node.warn(RED._('journey-store.errors.heartbeat-failed', { message: err.message })));
    }, DEFAULT_LIVENESS.heartbeatMs);

    node.resumePoint = async (from: string, port: number, msg): Promise<ResumePoint> => {
      const snapshot = snapshotOf(msg as NodeMessageInFlow);
      await isAlive();
      return { node: from, port, snapshot, at: new Date(), owner };
    };
    node.term = () => ownHeartbeat.term();
    const carrier: PointCarrier = {
      term: node.term,
      async writePoint(from, port, instanceId, msg) {
        const point = await node.resumePoint(from, port, msg);
        return recordResumePoint(await node.getStore(), instanceId, point);
      },
    };

    node.register = (user: Node) => {
      users.add(user);
      carriers.set(user.id, carrier);
    };
    node.deregister = (user: Node) => {
      users.delete(user);
      if (carriers.get(user.id) === carrier) carriers.delete(user.id);
      if (users.size === 0) usersGone?.();
    };

    // Journey msgs a stopped process was carrying, and waits it parked without a timer: looked
    // for once the flows run (their nodes must be there to send from), then now and then,
    // since processes stop at any time.
    let resuming: Promise<void> | null = null;
    const resume = () =>
      (resuming ??= (async () => {
        if (closing) return;
        await isAlive();
        const resumed = await resumeStranded(RED, { store: await node.getStore(), owner, liveness: DEFAULT_LIVENESS, followInstance: node.followInstance });
        for (const [from, count] of resumed) node.log(RED._('journey-store.log.resumed', { count, owner: from }));
        // Waits a stopped process parked without saving their timer.
        const timers = running ? await running.recoverTimers() : 0;
        if (timers > 0) node.log(RED._('journey-store.log.timers-recovered', { count: timers }));
      })()
        .catch((err: Error) => node.warn(RED._('journey-store.errors.resume-failed', { message: err.message })))
        .finally(() => (resuming = null)));
    const onFlowsStarted = () => void resume();
    RED.events.on('flows:started', onFlowsStarted);
    const resumeTimer = setInterval(() => void resume(), RESUME_EVERY_MS);
    const leftoverTimer = setInterval(() => removeLeftoverTimers(), LEFTOVER_TIMERS_EVERY_MS);

    // Opened at deploy so a misconfigured store shows in the log straight away.
    node.getStore().catch((err: Error & { code?: string }) => {
      if (err.code === 'STORE_CONFIG') node.error(err.message); // open failures log themselves
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      closing = true;
      clearInterval(heartbeats);
      clearInterval(resumeTimer);
      clearInterval(leftoverTimer);
      RED.events.removeListener('flows:started', onFlowsStarted);
      // Msgs still travelling when the flows stop are dropped by the runtime; they are taken over from their points (below).
      inFlight.forgetOwner(node.id);
      let timer: NodeJS.Timeout | undefined;
      const waitForUsers =
        users.size === 0
          ? Promise.resolve()
          : new Promise<void>((resolve) => {
              usersGone = resolve;
              timer = setTimeout(resolve, CLOSE_WAIT_MS);
            });
      // Stop firing timers before the store goes; Agenda unlocks what it held for the next runtime.
      let timersStopped: Promise<unknown> | undefined;
      const stopTimers = () => (timersStopped ??= waits?.then(({ agenda }) => agenda.stop()).catch(() => undefined) ?? Promise.resolve());
      void waitForUsers
        .then(async () => {
          clearTimeout(timer);
          const handOver = (async () => {
            await completions.drain();
            await resuming;
            // Msgs the runtime dropped as the flows stopped are taken over at once by whichever process looks next.
            if (alive && lease) await heartbeat((await lease).store, owner, new Date(0)).catch(() => undefined);
            await stopTimers();
          })();
          await withDeadline(handOver, CLOSE_HANDOVER_MS, () => undefined);
          // Past the deadline Agenda may not have been told yet: it stops claiming at once, before its writes.
          void stopTimers();
          running = null;
          // Closing the client fails whatever still waits on the server.
          const released = lease?.then((l) => l.release()).catch(() => undefined);
          return withDeadline(released ?? Promise.resolve(), CLOSE_HANDOVER_MS, () => undefined);
        })
        .then(() => done(), () => done());
    });
  }

  registerReportsApi(RED);
  registerNode(RED, 'journey-store', JourneyStoreNode, {
    credentials: { uri: { type: 'password' } },
  });
};

function storeConfig(RED: NodeAPI, def: JourneyStoreDef, credentials: Credentials): StoreConfig {
  if (def.backend === 'mongodb') {
    return { kind: 'mongodb', uri: credentials.uri ?? '', database: def.database?.trim() || 'journeys' };
  }
  const userDir = (RED.settings as { userDir?: string }).userDir ?? process.cwd();
  const directory = def.directory?.trim() || 'journeys-store';
  return { kind: 'embedded', directory: isAbsolute(directory) ? directory : resolve(join(userDir, directory)) };
}

/** Where people reach this Node-RED's HTTP endpoints (tracking links, webhooks): as set, else this machine's own address. */
function publicUrlOf(RED: NodeAPI, def: JourneyStoreDef): string {
  const set = def.publicUrl?.trim();
  if (set) return set.replace(/\/+$/, '');
  const settings = RED.settings as { uiPort?: number; httpNodeRoot?: string | false };
  const root = typeof settings.httpNodeRoot === 'string' ? settings.httpNodeRoot : '/';
  return `http://localhost:${settings.uiPort ?? 1880}${root}`.replace(/\/+$/, '');
}
