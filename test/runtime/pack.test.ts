/**
 * The package as a user installs it: `npm pack`, then `npm install <tarball>` into a fresh
 * Node-RED user directory, then Node-RED started on that directory. Every node and the
 * editor plugin load with no error in the log, and the examples come with the package.
 */
import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { nodeRedPackage, sleep } from '../support/node-red.js';
import { freePort } from '../support/runtime.js';

const root = resolve(__dirname, '../../..');
// npm itself: the one beside the Node that runs npm scripts, else the one on PATH.
const npmCli = process.env.npm_execpath ?? '';

/** npm with the Node running the tests (Node 24 from the project), or the npm on PATH. */
function npm(args: string[], cwd: string): { status: number | null; output: string } {
  const [command, argv] = npmCli.endsWith('.js') && existsSync(npmCli) ? [process.execPath, [npmCli, ...args]] : ['npm', args];
  const run = spawnSync(command, argv, { cwd, encoding: 'utf8', env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false' } });
  return { status: run.status, output: `${run.stdout}\n${run.stderr}` };
}

describe(`the packed package installed into a fresh user directory (real ${nodeRedPackage} process)`, function () {
  this.timeout(300_000);
  let work = '';
  let stop: (() => Promise<void>) | undefined;

  after(async () => {
    await stop?.();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('installs from the tarball and loads every node and the plugin without an error', async () => {
    work = await mkdtemp(join(tmpdir(), 'journeys-pack-'));
    // The build is already in dist/ (npm test builds first): pack it as it is.
    const packed = npm(['pack', '--ignore-scripts', '--pack-destination', work], root);
    expect(packed.status, packed.output).to.equal(0);
    const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
    expect(tarball, packed.output).to.be.a('string');

    const userDir = join(work, 'user');
    await import('node:fs/promises').then((fs) => fs.mkdir(userDir));
    await writeFile(join(userDir, 'package.json'), JSON.stringify({ name: 'fresh-user-dir', private: true }));
    const installed = npm(['install', '--prefer-offline', '--no-audit', '--no-fund', join(work, tarball!)], userDir);
    expect(installed.status, installed.output).to.equal(0);
    const pkgDir = join(userDir, 'node_modules', 'node-red-contrib-journeys');
    expect(existsSync(join(pkgDir, 'examples', 'Welcome series.json')), 'the examples in the package').to.equal(true);
    expect(existsSync(join(pkgDir, 'src')) || existsSync(join(pkgDir, 'test')), 'no sources or tests in the package').to.equal(false);

    await writeFile(join(userDir, 'settings.js'), "module.exports = { uiHost: '127.0.0.1', flowFile: 'flows.json', telemetry: { enabled: false }, editorTheme: { tours: false } };\n");
    const port = await freePort();
    const redJs = require.resolve(`${nodeRedPackage}/red.js`);
    const child = spawn(process.execPath, [redJs, '--userDir', userDir, '--port', String(port), '--settings', join(userDir, 'settings.js')], {
      cwd: userDir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    child.stdout.on('data', (c: Buffer) => (log += c.toString()));
    child.stderr.on('data', (c: Buffer) => (log += c.toString()));
    stop = async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
    };
    const deadline = Date.now() + 60_000;
    while (!/Started flows|Server now running/.test(log)) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`Node-RED did not start:\n${log}`);
      await sleep(100);
    }
    const nodes = (await (await fetch(`http://127.0.0.1:${port}/nodes`, { headers: { accept: 'application/json' } })).json()) as Array<{
      module: string;
      types: string[];
      enabled: boolean;
      err?: string;
    }>;
    const ours = nodes.filter((s) => s.module === 'node-red-contrib-journeys');
    expect(ours.flatMap((s) => s.types).sort()).to.deep.equal([
      'email-account',
      'event-in',
      'fcm-account',
      'journey-split',
      'journey-store',
      'profile-merge',
      'segment',
      'send-email',
      'send-push',
      'send-sms',
      'track',
      'twilio-account',
      'wait',
    ]);
    for (const set of ours) expect(set, JSON.stringify(set)).to.include({ enabled: true }).and.not.have.property('err');
    const plugins = (await (await fetch(`http://127.0.0.1:${port}/plugins`, { headers: { accept: 'application/json' } })).json()) as Array<{ id: string }>;
    expect(plugins.map((p) => p.id)).to.include('node-red-contrib-journeys/journeys-editor');
    expect(log).to.not.match(/\[error\]/);
  });
});
