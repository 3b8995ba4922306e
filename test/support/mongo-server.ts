/**
 * The MongoDB-wire server the tests run against: MONGODB_URI when set, otherwise
 * mongo-java-server (in-memory) started on 127.0.0.1 from test/mongo-server. A failure to
 * start is an error that fails the run, never a reason to skip the MongoDB tests.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

export interface TestMongo {
  uri: string;
  server: string;
  stop(): Promise<void>;
}

const root = resolve(__dirname, '../../..');
const serverDir = join(root, 'test/mongo-server');
const START_TIMEOUT_MS = 60_000;

function fail(why: string, detail = ''): never {
  throw new Error(
    `No MongoDB-wire server could be started for the tests: ${why}.${detail ? `\n${detail}` : ''}\n` +
      'The MongoDB adapter tests therefore FAIL (they are never skipped). Set MONGODB_URI to a server, ' +
      'or make Java 17 and Maven available for test/mongo-server (bash test/mongo-server/build.sh).',
  );
}

export async function startTestMongo(): Promise<TestMongo> {
  const external = process.env.MONGODB_URI;
  if (external) return { uri: external, server: 'the server at MONGODB_URI', stop: async () => {} };

  const build = spawnSync('bash', [join(serverDir, 'build.sh')], { encoding: 'utf8' });
  if (build.status !== 0) fail('building test/mongo-server failed', `${build.stdout}\n${build.stderr}`.trim().slice(-2000));
  const classpath = `${join(serverDir, 'target/classes')}:${readFileSync(join(serverDir, 'target/classpath.txt'), 'utf8').trim()}`;

  const child = spawn(
    'java',
    ['-Dorg.slf4j.simpleLogger.defaultLogLevel=warn', '-cp', classpath, 'journeys.testserver.TestMongoServer', '127.0.0.1', '0'],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));

  const address = await new Promise<string>((resolveAddress, reject) => {
    const timer = setTimeout(() => reject(new Error(`it did not report a port within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      const match = /^LISTENING (\S+:\d+)$/.exec(line);
      if (match) {
        clearTimeout(timer);
        resolveAddress(match[1]!);
      }
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`java exited with code ${code}`));
    });
  }).catch((err: Error) => {
    child.kill('SIGKILL');
    return fail(`mongo-java-server did not start (${err.message})`, stderr.trim());
  });

  return {
    uri: `mongodb://${address}`,
    server: 'mongo-java-server 1.47.0 (in-memory backend)',
    async stop() {
      // Closing stdin ends the server; it also ends if this process dies without stopping it.
      child.stdin.end();
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    },
  };
}
