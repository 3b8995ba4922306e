/**
 * The example flow "IoT heat alert" with a real MQTT broker: Mosquitto from Debian's
 * packages, started here on a free port, and Node-RED's own mqtt-in node subscribed to it.
 * Readings published over MQTT: only those over 30 °C start the journey, once an hour per
 * person, and each pushes a notification (outbox) to the person's device.
 */
import { expect } from 'chai';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import mqtt from 'mqtt';
import { COLLECTIONS, type Delivery } from '../../lib/index.js';
import { daytimeZone, withEmbeddedStore } from '../support/examples.js';
import { all } from '../support/stores.js';
import { eventually, nodeRedPackage, sleep } from '../support/node-red.js';
import { freePort, nodeRedSuite } from '../support/runtime.js';

const root = resolve(__dirname, '../../..');

/** Mosquitto on PATH or where Debian installs it. */
function mosquittoPath(): string {
  for (const candidate of ['mosquitto', '/usr/sbin/mosquitto']) {
    if (spawnSync(candidate, ['-h']).error === undefined) return candidate;
  }
  throw new Error("no mosquitto: the IoT example's test needs an MQTT broker (apt-get install mosquitto; .ci/run installs it)");
}

describe(`the example flow "IoT heat alert" with Mosquitto (real ${nodeRedPackage} process, embedded store, outbox)`, function () {
  this.timeout(120_000);
  const suite = nodeRedSuite('example-iot');
  let broker: ChildProcess | undefined;
  after(async () => {
    broker?.kill('SIGTERM');
  });

  it('turns hot readings published over MQTT into one push per person per hour', async () => {
    const port = await freePort();
    await writeFile(join(suite.userDir, 'mosquitto.conf'), `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
    let brokerLog = '';
    broker = spawn(mosquittoPath(), ['-c', join(suite.userDir, 'mosquitto.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
    broker.stdout?.on('data', (c: Buffer) => (brokerLog += c.toString()));
    broker.stderr?.on('data', (c: Buffer) => (brokerLog += c.toString()));

    // The example as imported, pointed at this broker instead of localhost:1883.
    const flow = JSON.parse(await readFile(join(root, 'examples', 'IoT heat alert.json'), 'utf8')) as Array<Record<string, unknown>>;
    await writeFile(join(suite.userDir, 'flows.json'), JSON.stringify(flow.map((n) => (n.type === 'mqtt-broker' ? { ...n, broker: '127.0.0.1', port: String(port) } : n))));
    const red = await suite.start();

    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`).catch((err: Error) => {
      throw new Error(`the broker did not take a connection: ${err.message}\n${brokerLog}`);
    });
    // Node-RED subscribes once its broker node has connected.
    await eventually(() => (/Connected to broker/.test(red.output()) ? true : undefined), 20_000, "Node-RED's mqtt broker node to connect");
    const timezone = daytimeZone();
    const reading = (user: string, celsius: number, n: number) =>
      client.publishAsync(
        `devices/${user}-thermostat/events`,
        JSON.stringify({ name: 'temperature', identities: { userId: user, deviceToken: `token-${user}` }, traits: { firstName: user, timezone }, properties: { celsius, room: 'living room' }, messageId: `${user}-${n}` }),
        { qos: 1 },
      );
    await sleep(500);
    // Apart, so they are taken in order (Node-RED handles messages concurrently).
    await reading('ann', 29, 1); // not hot: no journey
    await sleep(300);
    await reading('ann', 31, 2); // hot: an alert
    await sleep(300);
    await reading('ann', 33, 3); // hot again within the hour: refused by re-entry
    await reading('bob', 35, 1); // another person: an alert
    await client.endAsync();
    await sleep(2_000);
    await red.stop();

    await withEmbeddedStore(suite.userDir, async (store) => {
      const pushes = await all(store.collection<Delivery>(COLLECTIONS.deliveries).find({ node: 'io-push' }));
      expect(pushes.map((d) => [d.to[0], d.status, d.outbox]).sort()).to.deep.equal([
        ['token-ann', 'sent', true],
        ['token-bob', 'sent', true],
      ]);
      expect(pushes.find((d) => d.to[0] === 'token-ann')!.content).to.deep.include({ title: 'It is 31 °C at home', body: 'ann, your living room is getting hot.' });
      expect(await store.collection(COLLECTIONS.milestones).count({ name: 'heat_alert_sent' })).to.equal(2);
      // The cold reading never became an event; the refused hot one did (recorded on the profile).
      expect(await store.collection(COLLECTIONS.events).count({ name: 'temperature' })).to.equal(3);
    });
  });
});
