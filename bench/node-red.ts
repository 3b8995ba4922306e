/**
 * One real Node-RED runtime inside the bench process, with this package installed in a user
 * directory of its own the way `npm start` installs it (a link in <userDir>/node_modules, as
 * scripts/start.mjs makes). No editor and no HTTP server: flows are deployed through the
 * runtime API, and a msg is handed to a node as a wire hands it (`receive`). Node-RED cannot
 * start again in a process it has stopped in, so every section shares this one runtime and
 * deploys its own flows over the last.
 */
import { randomBytes } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { InFlight } from '../lib/index.js';
import { countCopies } from '../nodes/shared/completion.js';
import type { Node, NodeAPI, NodeMessage } from '../nodes/shared/red.js';
import { nodeRedPackage } from '../test/support/node-red-package.js';
import type { FlowNode } from '../test/support/node-red.js';

export type { FlowNode };

/** The parts of the node-red module the bench calls (its published typings want an HTTP server). */
interface EmbeddableNodeRed {
  init(settings: Record<string, unknown>): void;
  start(): Promise<void>;
  stop(): Promise<void>;
  version(): string;
  readonly hooks: NodeAPI['hooks'];
  readonly events: EventEmitter;
  readonly nodes: { getNode(id: string): Node | null };
  readonly runtime: {
    flows: {
      setFlows(options: { flows: { flows: FlowNode[]; credentials?: Credentials }; deploymentType: 'full' }): Promise<unknown>;
    };
  };
}

/** Credentials by node id, as the editor deploys them. */
export type Credentials = Record<string, Record<string, string>>;

export interface BenchNodeRed {
  readonly version: string;
  /** Replaces the running flows with `flows`; resolves once they have started. */
  deploy(flows: FlowNode[], credentials?: Credentials): Promise<void>;
  /**
   * Hands `msg` to node `nodeId`; `settled` runs once every copy of it has finished in every
   * node it reached (sent on or not), counted by the same message hooks that complete journey
   * instances, one turn after the last.
   */
  inject(nodeId: string, msg: NodeMessage & { _msgid: string }, settled: () => void): void;
  /** Since the last deploy or reset: msgs each node received, and handlers that finished with an error. */
  tally(): { received(nodeId: string): number; failed: number };
  resetTally(): void;
  stop(): Promise<void>;
}

const LABEL = 'journeys-bench';
const root = resolve(__dirname, '..', '..');

let running: Promise<BenchNodeRed> | null = null;

/** The bench's runtime, started on first use. */
export function benchNodeRed(): Promise<BenchNodeRed> {
  running ??= start();
  return running;
}

/** Stops the runtime if a section started it. */
export async function stopBenchNodeRed(): Promise<void> {
  if (running) await (await running).stop();
}

async function start(): Promise<BenchNodeRed> {
  const userDir = await mkdtemp(join(tmpdir(), 'journeys-bench-red-'));
  await mkdir(join(userDir, 'node_modules'));
  await symlink(root, join(userDir, 'node_modules', 'node-red-contrib-journeys'), 'dir');
  await writeFile(join(userDir, 'package.json'), JSON.stringify({ name: 'journeys-bench-user-dir', private: true }));
  const RED = require(nodeRedPackage) as EmbeddableNodeRed;
  RED.init({
    userDir,
    flowFile: 'flows.json',
    credentialSecret: randomBytes(16).toString('hex'),
    httpAdminRoot: false,
    httpNodeRoot: false,
    logging: { console: { level: 'warn', metrics: false, audit: false } },
    editorTheme: { projects: { enabled: false } },
    telemetry: { enabled: false },
  });
  // RED.start resolves before the (empty) flows have started; a deploy must not take their signal for its own.
  const firstStart = flowsStarted(RED);
  await RED.start();
  await firstStart;

  const copies = new InFlight<null>();
  countCopies(RED.hooks, LABEL, copies, (msg) => (typeof msg._msgid === 'string' ? { followed: msg._msgid, msgId: msg._msgid } : null));
  // What a run did, so a flow that rejects or fails everything cannot pass for a fast one.
  let received = new Map<string, number>();
  let failed = 0;
  RED.hooks.add(`onReceive.${LABEL}-tally`, (event: { destination: { id: string } }) => {
    received.set(event.destination.id, (received.get(event.destination.id) ?? 0) + 1);
  });
  RED.hooks.add(`onComplete.${LABEL}-tally`, (event: { error?: unknown }) => {
    if (event.error) failed += 1;
  });

  const red: BenchNodeRed = {
    version: RED.version(),
    async deploy(flows, credentials) {
      const started = flowsStarted(RED);
      await RED.runtime.flows.setFlows({ flows: { flows, ...(credentials ? { credentials } : {}) }, deploymentType: 'full' });
      await started;
      red.resetTally();
    },
    inject(nodeId, msg, settled) {
      const node = RED.nodes.getNode(nodeId) as (Node & { receive(msg: NodeMessage): void }) | null;
      if (!node) throw new Error(`no node ${nodeId} is deployed`);
      copies.follow(msg._msgid, null, settled);
      node.receive(msg);
    },
    tally() {
      // A snapshot: the next deploy resets the counts.
      const seen = new Map(received);
      return { received: (id) => seen.get(id) ?? 0, failed };
    },
    resetTally() {
      received = new Map();
      failed = 0;
    },
    async stop() {
      await RED.stop();
      RED.hooks.remove(`*.${LABEL}`);
      RED.hooks.remove(`*.${LABEL}-tally`);
      await rm(userDir, { recursive: true, force: true });
    },
  };
  return red;
}

const flowsStarted = (RED: EmbeddableNodeRed) => new Promise<void>((resolve) => RED.events.once('flows:started', () => resolve()));
