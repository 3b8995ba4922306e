/**
 * Counts the commands a MongoDB client sends, on the wire: a TCP relay in front of the
 * server, in a worker thread of its own (so its work is not the measured process's), that
 * reads the length of each message the client sends and adds one to a shared counter.
 * Every command is one message, however many documents it carries: the count is the round
 * trips, which is what sharing them between events saves.
 */
import { Worker } from 'node:worker_threads';

export interface WireCount {
  /** A connection string that reaches the server through the relay. */
  uri: string;
  /** Messages sent so far through every connection. */
  sent(): number;
  stop(): Promise<void>;
}

const relay = `
const { workerData, parentPort } = require('node:worker_threads');
const net = require('node:net');
const counter = new Int32Array(workerData.counter);
const server = net.createServer((client) => {
  const upstream = net.connect(workerData.port, workerData.host);
  let pending = Buffer.alloc(0);
  client.on('data', (chunk) => {
    upstream.write(chunk);
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    // Each message begins with its whole length (int32, little-endian).
    while (pending.length >= 4 && pending.length >= pending.readInt32LE(0)) {
      pending = pending.subarray(pending.readInt32LE(0));
      Atomics.add(counter, 0, 1);
    }
  });
  upstream.on('data', (chunk) => client.write(chunk));
  const close = () => { client.destroy(); upstream.destroy(); };
  client.on('close', close).on('error', close);
  upstream.on('close', close).on('error', close);
});
server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
parentPort.on('message', () => { server.close(); process.exit(0); });
`;

export async function countWire(uri: string): Promise<WireCount> {
  const match = /^mongodb:\/\/([^/:?,@]+):(\d+)(\/[^?]*)?(\?.*)?$/.exec(uri);
  if (!match) throw new Error(`cannot relay ${uri}: only a single-host mongodb:// address without credentials is supported`);
  const [, host, port, path = '/', query = ''] = match;
  const buffer = new SharedArrayBuffer(4);
  const counter = new Int32Array(buffer);
  const worker = new Worker(relay, { eval: true, workerData: { host, port: Number(port), counter: buffer } });
  const relayPort = await new Promise<number>((resolve, reject) => worker.once('message', resolve).once('error', reject));
  // The relay's address is not the one the server names itself by: connect to it directly.
  const separator = query ? '&' : '?';
  return {
    uri: `mongodb://127.0.0.1:${relayPort}${path}${query}${separator}directConnection=true`,
    sent: () => Atomics.load(counter, 0),
    async stop() {
      const exited = new Promise((resolve) => worker.once('exit', resolve));
      worker.postMessage('stop');
      await exited;
    },
  };
}
