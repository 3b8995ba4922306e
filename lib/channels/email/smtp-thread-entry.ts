/**
 * The body of the SMTP thread (see smtp-thread.ts): one pooled transport for the account it
 * was started with, sending what the main thread posts and posting back each outcome.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Delivery } from '../delivery.js';
import type { ProviderResult } from '../outbox.js';
import { smtpProvider, type SmtpAccount } from './smtp.js';
import type { ThreadReply, ThreadRequest } from './smtp-thread.js';

const port = parentPort;
if (!port) throw new Error('smtp-thread-entry runs only as a worker thread');
const provider = smtpProvider(workerData as SmtpAccount);

port.on('message', (request: ThreadRequest) => {
  if (request.type === 'close') {
    provider.close();
    port.close();
    return;
  }
  void provider
    .send(request.delivery as Delivery)
    // send() answers every failure of the exchange itself; what throws before it had nothing to send.
    .catch((err: Error): ProviderResult => ({ status: 'failed', error: { code: 'SMTP_MESSAGE', message: err.message } }))
    .then((result) => port.postMessage({ id: request.id, result } satisfies ThreadReply));
});
