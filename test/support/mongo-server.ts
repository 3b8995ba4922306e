/**
 * The MongoDB-wire server the tests run against: MONGODB_URI when set, otherwise
 * mongo-java-server 1.47.0 (in-memory) from test/mongo-server, started on 127.0.0.1.
 * A failure to start is an error that fails the run, never a reason to skip the MongoDB tests.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';

export interface TestMongo {
  uri: string;
  server: string;
  /** The server's process id, when this run started it. */
  pid?: number;
  stop(): Promise<void>;
  /** Freezes the server (SIGSTOP) as an outage would, and thaws it (SIGCONT); only a server this run started. */
  pause?(): void;
  resume?(): void;
}

const PACKAGE_NAME = 'node-red-contrib-journeys';
const MAIN_CLASS = 'journeys.testserver.TestMongoServer';
const START_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 5_000;
const TAIL_CHARS = 4_000;

/** A reason the server could not be started, with the output that explains it. */
class StartFailure extends Error {
  constructor(
    why: string,
    readonly output = '',
  ) {
    super(why);
  }
}

export async function startTestMongo(): Promise<TestMongo> {
  const external = process.env.MONGODB_URI;
  if (external) return { uri: external, server: 'external MONGODB_URI', stop: async () => {} };
  try {
    return await startMongoJavaServer();
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    const output = err instanceof StartFailure && err.output.trim() ? `\n--- its output (last lines) ---\n${err.output.trim()}` : '';
    throw new Error(
      `No MongoDB-wire server could be started for the tests: ${why}.\n` +
        'The MongoDB adapter tests therefore FAIL rather than skip. To fix: make Java 17+ and Maven ' +
        'available (bash test/mongo-server/build.sh must succeed), or set MONGODB_URI to a running server.' +
        output,
      { cause: err },
    );
  }
}

async function startMongoJavaServer(): Promise<TestMongo> {
  const serverDir = join(findRepoRoot(), 'test', 'mongo-server');
  const build = await run('bash', [join(serverDir, 'build.sh')]);
  if (build.failure) throw new StartFailure(`bash test/mongo-server/build.sh ${build.failure}`, build.output);

  let dependencies: string;
  try {
    dependencies = readFileSync(join(serverDir, 'target', 'classpath.txt'), 'utf8').trim();
  } catch (err) {
    throw new StartFailure(`test/mongo-server/target/classpath.txt is unreadable after the build (${String(err)})`);
  }
  const classpath = [join(serverDir, 'target', 'classes'), dependencies].join(delimiter);
  const child = spawn('java', ['-cp', classpath, MAIN_CLASS, '127.0.0.1', '0'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const stderr = tail(child.stderr);
  const closed = whenClosed(child);

  let address: string;
  try {
    address = await listeningAddress(child);
  } catch (err) {
    await terminate(child, closed);
    throw new StartFailure(`mongo-java-server did not start: ${err instanceof Error ? err.message : String(err)}`, stderr());
  }

  return {
    uri: `mongodb://${address}`,
    server: 'mongo-java-server 1.47.0 (in-memory backend)',
    ...(child.pid ? { pid: child.pid } : {}),
    stop: () => terminate(child, closed),
    pause: () => void child.kill('SIGSTOP'),
    resume: () => void child.kill('SIGCONT'),
  };
}

/** process.cwd() when it is the repository, else the nearest folder above this file that is. */
function findRepoRoot(): string {
  if (isRepoRoot(process.cwd())) return process.cwd();
  for (let dir = __dirname; ; dir = dirname(dir)) {
    if (isRepoRoot(dir)) return dir;
    if (dirname(dir) === dir) throw new StartFailure(`no ${PACKAGE_NAME} package.json at ${process.cwd()} or above ${__dirname}`);
  }
}

function isRepoRoot(dir: string): boolean {
  try {
    const pkg: unknown = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    return typeof pkg === 'object' && pkg !== null && 'name' in pkg && pkg.name === PACKAGE_NAME;
  } catch {
    return false;
  }
}

/** Runs a command to its end; `failure` says how it failed, if it did. */
function run(command: string, args: string[]): Promise<{ failure?: string; output: string }> {
  return new Promise((resolveRun) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const collect = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-TAIL_CHARS);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.once('error', (err) => resolveRun({ failure: `could not be run (${err.message})`, output }));
    child.once('close', (code, signal) => {
      resolveRun(code === 0 ? { output } : { failure: `exited with ${code ?? signal}`, output });
    });
  });
}

/** Resolves with "host:port" from the server's LISTENING line. */
function listeningAddress(child: ChildProcessWithoutNullStreams): Promise<string> {
  return new Promise((resolveAddress, reject) => {
    const lines = createInterface({ input: child.stdout });
    const timer = setTimeout(() => done(new Error(`no LISTENING line within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
    const onError = (err: Error) => done(new Error(`java could not be run (${err.message})`));
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => done(new Error(`java exited with ${code ?? signal}`));
    const onLine = (line: string) => {
      const match = /^LISTENING (\S+:\d+)$/.exec(line);
      if (match?.[1]) done(undefined, match[1]);
    };
    function done(err: Error | undefined, address?: string): void {
      clearTimeout(timer);
      lines.off('line', onLine);
      child.off('error', onError);
      child.off('exit', onExit);
      if (address) resolveAddress(address);
      else reject(err);
    }
    lines.on('line', onLine);
    child.once('error', onError);
    child.once('exit', onExit);
  });
}

/** Keeps the last few thousand characters of a stream; call the result to read them. */
function tail(stream: NodeJS.ReadableStream): () => string {
  let text = '';
  stream.on('data', (chunk: Buffer) => {
    text = (text + chunk.toString()).slice(-TAIL_CHARS);
  });
  return () => text;
}

/** Settles once the child has exited and its pipes are closed, or it never started. */
function whenClosed(child: ChildProcessWithoutNullStreams): Promise<void> {
  return new Promise((settle) => {
    child.once('close', () => settle());
    child.once('error', () => settle());
  });
}

/** SIGTERM (the server shuts down cleanly), SIGKILL if it is still there after a grace period. */
async function terminate(child: ChildProcessWithoutNullStreams, closed: Promise<void>): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  const killer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
  await closed;
  clearTimeout(killer);
}
