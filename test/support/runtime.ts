/**
 * A real Node-RED process started the way the README's `npm start` starts it
 * (scripts/start.mjs), on a user directory of the test's own and a free port.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { nodeRedPackage } from './node-red.js';
import { eventually } from './timing.js';

const root = resolve(__dirname, '../../..');

export interface RunningNodeRed {
  url: string;
  userDir: string;
  /** The start script's process id; Node-RED itself is its child. */
  pid: number;
  output(): string;
  request(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; json: unknown; text: string }>;
  /** Deploys `flows` in full, as the editor's Deploy does, and resolves once they have started. */
  deploy(flows: unknown[]): Promise<void>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  if (!address || typeof address === 'string') throw new Error('no port');
  return address.port;
}

export async function startNodeRed(userDir: string, env: Record<string, string> = {}): Promise<RunningNodeRed> {
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, [join(root, 'scripts/start.mjs')], {
    cwd: root,
    env: { ...process.env, JOURNEYS_USER_DIR: userDir, PORT: String(port), JOURNEYS_NODE_RED: nodeRedPackage, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group: a SIGKILL must reach Node-RED itself, not only the start script.
    detached: true,
  });
  let log = '';
  child.stdout?.on('data', (chunk: Buffer) => (log += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()));
  const url = `http://127.0.0.1:${port}`;
  const exited = once(child, 'exit');
  /** Node-RED logs this each time flows start: at start, and after each deploy. */
  const startedFlows = () => log.split('Started flows').length - 1;
  const deadline = Date.now() + 60_000;
  while (startedFlows() === 0) {
    if (child.exitCode !== null) throw new Error(`Node-RED exited at start:\n${log}`);
    if (Date.now() > deadline) {
      process.kill(-child.pid!, 'SIGKILL');
      throw new Error(`Node-RED did not start flows within 60 s:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const running: RunningNodeRed = {
    url,
    userDir,
    pid: child.pid!,
    output: () => log,
    async request(method, path, body, headers = {}) {
      const response = await fetch(`${url}${path}`, {
        method,
        headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      return { status: response.status, json, text };
    },
    async deploy(flows) {
      const before = startedFlows();
      const answer = await running.request('POST', '/flows', flows, { 'Node-RED-Deployment-Type': 'full' });
      if (answer.status !== 200 && answer.status !== 204) throw new Error(`deploy answered ${answer.status}: ${answer.text}`);
      // The answer can come before the new flows run (an http in node's route is not there yet).
      await eventually(() => (startedFlows() > before ? true : undefined), 30_000, 'the deployed flows to start').catch((err: Error) => {
        throw new Error(`${err.message}:\n${log.slice(-3000)}`);
      });
    },
    async stop(signal = 'SIGTERM') {
      // Not a second signal to a group already gone: its id could have been given to another.
      if (child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(-child.pid!, signal);
        } catch {
          // already gone
        }
      }
      await exited;
      // Node-RED is the start script's child, in the same group: once the script has exited it
      // may still be there (a zombie not yet reaped) and hold the embedded store's lock.
      await eventually(() => (processGroupAlive(child.pid!) ? undefined : true), 10_000, 'the Node-RED process group to be gone');
    },
  };
  return running;
}

/** A describe block's user directory and the Node-RED processes it starts there. */
export interface NodeRedSuite {
  /** Made by the block's first `before` hook. */
  readonly userDir: string;
  /** Starts Node-RED on the user directory; whatever a test leaves running is stopped after the block. */
  start(env?: Record<string, string>): Promise<RunningNodeRed>;
}

/**
 * Call at the top of a describe block: a user directory of its own made before its tests, and
 * after them every process started through it stopped, then the directory removed. Its
 * hooks come first, so the block's own `after` (stopping a fake SMTP server, say) runs once
 * Node-RED is gone.
 */
export function nodeRedSuite(name: string): NodeRedSuite {
  let userDir = '';
  const started: RunningNodeRed[] = [];
  before(async () => {
    userDir = await mkdtemp(join(tmpdir(), `journeys-${name}-`));
  });
  after(async () => {
    for (const red of started) await red.stop();
    if (userDir) await rm(userDir, { recursive: true, force: true });
  });
  return {
    get userDir() {
      if (!userDir) throw new Error('the user directory is made in a before hook: read it in a hook or a test');
      return userDir;
    },
    async start(env) {
      const red = await startNodeRed(userDir, env);
      started.push(red);
      return red;
    },
  };
}

function processGroupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}
