/**
 * journey-store (config): where profiles, events and journeys live. Embedded by default
 * (a journal under the Node-RED user directory), or a MongoDB database whose connection
 * string is kept as a credential.
 */
import { isAbsolute, join, resolve } from 'node:path';
import type { Agenda } from 'agenda' with { 'resolution-mode': 'import' };
import { acquireStore, completeInstances, CompletionQueue, createAgenda, Waits, type ResumeHandler, type Store, type StoreConfig, type StoreLease } from '../../lib/index.js';
import { inFlight, installCompletionHooks } from '../shared/completion.js';
import { codedError } from '../shared/input.js';
import { registerReportsApi } from '../shared/reports-api.js';
import type { JourneyStoreConfigNode } from '../shared/store-client.js';
import { registerNode, type Node, type NodeAPI, type NodeDef } from '../shared/red.js';

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

export = function (RED: NodeAPI): void {
  installCompletionHooks(RED);
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

    const config = storeConfig(RED, def, credentials);

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
        const created = new Waits(store, agenda);
        for (const [id, handler] of resumeHandlers) created.register(id, handler);
        await agenda.start();
        running = created;
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
      async (ids) => (lease ? completeInstances((await lease).store, ids, new Date()) : undefined),
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

    node.register = (user: Node) => {
      users.add(user);
    };
    node.deregister = (user: Node) => {
      users.delete(user);
      if (users.size === 0) usersGone?.();
    };

    // Opened at deploy so a misconfigured store shows in the log straight away.
    node.getStore().catch((err: Error & { code?: string }) => {
      if (err.code === 'STORE_CONFIG') node.error(err.message); // open failures log themselves
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      closing = true;
      // Msgs still travelling when the flows stop are dropped by the runtime; their instances stay active.
      inFlight.forgetOwner(node.id);
      let timer: NodeJS.Timeout | undefined;
      const waitForUsers =
        users.size === 0
          ? Promise.resolve()
          : new Promise<void>((resolve) => {
              usersGone = resolve;
              timer = setTimeout(resolve, CLOSE_WAIT_MS);
            });
      void waitForUsers
        .then(async () => {
          clearTimeout(timer);
          await completions.drain();
          // Stop firing timers before the store goes; Agenda unlocks what it held for the next runtime.
          await waits?.then(({ agenda }) => agenda.stop()).catch(() => undefined);
          running = null;
          return lease?.then((l) => l.release()).catch(() => undefined);
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
