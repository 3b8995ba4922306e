/**
 * The example flow "Order webhook" fed by the README's own curl command: the flow is
 * deployed as imported, with the Secret set as a user sets it (a credential), and the shell
 * block under the README's "webhook-curl" marker is run as written, with curl and openssl.
 */
import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { COLLECTIONS, type Delivery } from '../../lib/index.js';
import { withEmbeddedStore } from '../support/examples.js';
import { all } from '../support/stores.js';
import { nodeRedPackage, sleep } from '../support/node-red.js';
import { nodeRedSuite } from '../support/runtime.js';

const root = resolve(__dirname, '../../..');

/** The shell block after the README's marker. */
async function readmeScript(): Promise<string> {
  const readme = await readFile(join(root, 'README.md'), 'utf8');
  const after = readme.slice(readme.indexOf('<!-- webhook-curl'));
  const block = /```sh\n([\s\S]*?)```/.exec(after);
  if (!block) throw new Error('the README has no webhook-curl block');
  return block[1]!;
}

/** Runs the script in bash; asynchronously, so this process keeps reading the Node-RED child's output meanwhile. */
function run(script: string, env: Record<string, string>): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', script], { env: { ...process.env, ...env } });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.on('close', (status) => resolve({ status, out }));
  });
}

describe(`the example flow "Order webhook", fed by the README's curl (real ${nodeRedPackage} process)`, function () {
  this.timeout(120_000);
  const suite = nodeRedSuite('example-webhook');

  it('takes the signed order, mails the confirmation to the outbox, and refuses it unsigned or replayed', async () => {
    for (const tool of ['curl', 'openssl']) {
      expect(spawnSync('bash', ['-c', `command -v ${tool}`]).status, `${tool} is needed (apt-get install ${tool}; .ci/run installs it)`).to.equal(0);
    }
    const red = await suite.start();
    const flow = JSON.parse(await readFile(join(root, 'examples', 'Order webhook.json'), 'utf8')) as Array<Record<string, unknown>>;
    const withSecret = flow.map((n) => (n.type === 'event-in' ? { ...n, credentials: { secret: 'change-me' } } : n));
    await red.deploy(withSecret);
    // The secret went to the credentials file, not into the flow.
    const flows = await red.request('GET', '/flows');
    expect(flows.text).to.not.contain('change-me');

    const script = await readmeScript();
    // (A time limit on curl, so a broken server fails the test instead of hanging it.)
    const readmeAsRun = script.replace('curl -s', 'curl -s --max-time 10');
    const first = await run(readmeAsRun, { NODE_RED: red.url });
    expect(first.out, first.out).to.match(/"accepted":true,"entered":true/);
    const again = await run(readmeAsRun, { NODE_RED: red.url });
    expect(again.out).to.match(/"duplicate":true/);
    const forged = await run(readmeAsRun.replace("SECRET='change-me'", "SECRET='guess'").replace('order-1001', 'order-1002'), { NODE_RED: red.url });
    expect(forged.out).to.match(/BAD_SIGNATURE/);
    await sleep(1_500);
    await red.stop();

    await withEmbeddedStore(suite.userDir, async (store) => {
      const mails = await all(store.collection<Delivery>(COLLECTIONS.deliveries).find({ node: 'wh-mail' }));
      expect(mails.map((d) => [d.to[0], d.status, d.outbox])).to.deep.equal([['ada@example.com', 'sent', true]]);
      expect(mails[0]!.content.subject).to.equal('Your order of 42 EUR');
      expect(await store.collection(COLLECTIONS.milestones).count({ name: 'order_confirmed' })).to.equal(1);
    });
  });
});
