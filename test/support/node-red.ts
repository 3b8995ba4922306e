/**
 * node-red-node-test-helper set up for the Node-RED line under test (JOURNEYS_NODE_RED:
 * `node-red` for 5.x, `node-red-4` for the 4.1 alias), with this package's compiled nodes.
 */
import helper = require('node-red-node-test-helper');
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import type { Node, NodeInitializer, NodeMessageInFlow } from 'node-red';
import { nodeRedPackage } from './node-red-package.js';
import journeyStore = require('../../nodes/journey-store/journey-store.js');
import eventIn = require('../../nodes/event-in/event-in.js');
import profileMerge = require('../../nodes/profile-merge/profile-merge.js');
import track = require('../../nodes/track/track.js');
import wait = require('../../nodes/wait/wait.js');
import split = require('../../nodes/split/split.js');
import segment = require('../../nodes/segment/segment.js');

export { nodeRedPackage };
const nodeRedRoot = dirname(require.resolve(`${nodeRedPackage}/package.json`));
helper.init(require.resolve(nodeRedPackage));

/**
 * The helper builds each node's RED from a mock runtime that lacks `hooks`, though its flows
 * run the real message router, which triggers the real hooks. Node-RED's own node API has
 * RED.hooks; hand the nodes the same one here.
 */
interface HelperInternals {
  _RED: { hooks: unknown };
  _registryUtil?: { createNodeApi(node: unknown): Record<string, unknown> };
}
const internals = helper as unknown as HelperInternals;
const registryUtil = internals._registryUtil;
if (registryUtil) {
  const createNodeApi = registryUtil.createNodeApi.bind(registryUtil);
  registryUtil.createNodeApi = (node: unknown) => ({ ...createNodeApi(node), hooks: internals._RED.hooks });
}

export { helper };

type Initializer = NodeInitializer;

/** A core node of the Node-RED under test, e.g. `common/25-catch.js`. */
export function coreNode(path: string): Initializer {
  return require(require.resolve(`@node-red/nodes/core/${path}`, { paths: [nodeRedRoot] })) as Initializer;
}

export const journeyNodes: Initializer[] = [
  journeyStore as Initializer,
  eventIn as Initializer,
  profileMerge as Initializer,
  track as Initializer,
  wait as Initializer,
  split as Initializer,
  segment as Initializer,
];

export type FlowNode = Record<string, unknown> & { id: string; type: string };

/** Resolves with the next message a helper node receives. */
export function nextMessage(nodeId: string, timeoutMs = 5000): Promise<NodeMessageInFlow> {
  const node = helper.getNode(nodeId);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no message reached ${nodeId} within ${timeoutMs} ms`)), timeoutMs);
    node.once('input', (msg: NodeMessageInFlow) => {
      clearTimeout(timer);
      resolve(msg);
    });
  });
}

/**
 * A sender's output msg as it was when it reached `sender`: the pass the sender counted on
 * msg.journey taken off again, so feeding it back is a retry of that pass, not a loop.
 */
export function asItReached(msg: NodeMessageInFlow, sender: string): NodeMessageInFlow {
  const journey = msg.journey as { passes?: Record<string, number> };
  const passes = { ...journey.passes, [sender]: (journey.passes?.[sender] ?? 1) - 1 };
  return { ...msg, journey: { ...journey, passes } };
}

/** Collects every message a helper node receives from now on. */
export function collect(nodeId: string): NodeMessageInFlow[] {
  const seen: NodeMessageInFlow[] = [];
  helper.getNode(nodeId).on('input', (msg: NodeMessageInFlow) => {
    seen.push(msg);
  });
  return seen;
}

export interface StatusRecorder {
  readonly calls: Array<Record<string, unknown>>;
  last(): Record<string, unknown> | undefined;
}

/** Records what a node shows on its status badge. */
export function recordStatus(nodeId: string): StatusRecorder {
  const node = helper.getNode(nodeId) as Node & { status: (s: Record<string, unknown>) => void };
  const calls: Array<Record<string, unknown>> = [];
  const original = node.status.bind(node);
  node.status = (status: Record<string, unknown>) => {
    calls.push(status);
    original(status);
  };
  return { calls, last: () => calls[calls.length - 1] };
}

/** The runtime's own HTTP app (RED.httpNode: http in nodes, webhooks, tracking links) on a real port. */
export interface HttpNodeServer {
  /** Load it with the flow's nodes: it hands the server the runtime's app. */
  readonly capture: Initializer;
  /** http://127.0.0.1:port, set once the suite's `before` ran. */
  url(): string;
}

/** A server in front of the helper runtime's HTTP app for the enclosing suite, so requests go over real HTTP. */
export function useHttpNodeServer(): HttpNodeServer {
  let app: ((req: IncomingMessage, res: ServerResponse) => void) | null = null;
  let web: Server | undefined;
  let url = '';
  before(async () => {
    web = createServer((req, res) => (app ? app(req, res) : res.writeHead(503).end()));
    await new Promise<void>((resolve) => web!.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(web.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => (web ? web.close(() => resolve()) : resolve())));
  return {
    capture: (RED) => {
      app = RED.httpNode as unknown as (req: IncomingMessage, res: ServerResponse) => void;
    },
    url: () => url,
  };
}

// Kept in timing.ts, which lib tests import without loading Node-RED.
export { eventually, sleep } from './timing.js';
