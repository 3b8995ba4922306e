/** Flow fixtures for node tests: a tab, a store config node per backend, wiring helpers. */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedStore, MongoStore, type Store } from '../../lib/index.js';
import { testMongoUri } from '../support/stores.js';
import { helper, type FlowNode } from '../support/node-red.js';

export const TAB = 'tab1';

/** A journey-store config node and the credentials to load it with. */
export interface StoreNode {
  node: FlowNode;
  credentials: Record<string, Record<string, string>>;
}

export interface Backend {
  name: 'embedded' | 'mongodb';
  store(): Promise<StoreNode>;
}

const directories: string[] = [];

/** Removes the embedded stores' directories made by the tests so far. */
export async function removeStoreDirectories(): Promise<void> {
  await Promise.all(directories.splice(0).map((d) => rm(d, { recursive: true, force: true })));
}

export const backends: Backend[] = [
  {
    name: 'embedded',
    async store() {
      const directory = await mkdtemp(join(tmpdir(), 'journeys-node-'));
      directories.push(directory);
      return { node: { id: 'store', type: 'journey-store', backend: 'embedded', directory }, credentials: {} };
    },
  },
  {
    name: 'mongodb',
    async store() {
      return {
        node: { id: 'store', type: 'journey-store', backend: 'mongodb', database: `nodes_${randomUUID().slice(0, 8)}` },
        credentials: { store: { uri: testMongoUri() } },
      };
    },
  },
];

export const tab = (): FlowNode => ({ id: TAB, type: 'tab', label: 'journeys test' });

export function node(id: string, type: string, props: Record<string, unknown>, wires: string[][] = []): FlowNode {
  // x and y make it a flow node: Node-RED treats a node without a position as a config node.
  return { id, type, z: TAB, x: 100, y: 100, wires, ...props };
}

export const helperNode = (id: string): FlowNode => node(id, 'helper', {});
export const catchAll = (target: string): FlowNode => node('catch', 'catch', { scope: null, uncaught: false }, [[target]]);

/** Opens the store a flow wrote to, after the flow was unloaded (the embedded store has one owner). */
export async function openAfterwards(storeNode: FlowNode, credentials: StoreNode['credentials']): Promise<Store> {
  return storeNode.backend === 'mongodb'
    ? MongoStore.open({ uri: credentials.store!.uri!, database: storeNode.database as string })
    : EmbeddedStore.open({ directory: storeNode.directory as string });
}

/** A fresh helper runtime per test, unloaded and its embedded stores removed afterwards. */
export function useHelperRuntime(): void {
  beforeEach(() => helper.startServer());
  afterEach(async () => {
    await helper.unload();
    await helper.stopServer();
    await removeStoreDirectories();
  });
}

/** Runs `suite` once per store backend, with a fresh store config node in `ctx.store`. */
export function forEachBackend(suite: (ctx: { store: StoreNode }) => void): void {
  for (const backend of backends) {
    describe(`on the ${backend.name} store`, () => {
      const ctx = { store: undefined as unknown as StoreNode };
      beforeEach(async () => {
        ctx.store = await backend.store();
      });
      suite(ctx);
    });
  }
}
