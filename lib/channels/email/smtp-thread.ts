/**
 * The SMTP provider run on a worker thread of its own, one per account. Building each MIME
 * message (nodemailer's stream pipeline) and the SMTP exchange were about a quarter of the
 * main thread's time in a journey sending at full rate, taken from every flow of the
 * runtime; on the worker they use another core. The outbox is unchanged: a delivery is
 * claimed and settled on the main thread, and only the hand-over to the server moves.
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Delivery } from '../delivery.js';
import type { Provider, ProviderResult } from '../outbox.js';
import { smtpProviderTraits, type SmtpAccount } from './smtp.js';

/** What a delivery brings to the thread: the fields the provider reads. */
type ThreadDelivery = Pick<Delivery, '_id' | 'to' | 'content'>;

export type ThreadRequest = { type: 'send'; id: number; delivery: ThreadDelivery } | { type: 'close' };
export interface ThreadReply {
  id: number;
  result: ProviderResult;
}

/** The thread's name, also the OS thread's (at most 15 characters show there). */
export const THREAD_NAME = 'journeys-smtp';
/** How long a closing thread may take to say QUIT to its server before it is stopped. */
const CLOSE_GRACE_MS = 2_000;

export function smtpThreadProvider(account: SmtpAccount): Provider & { close(): void } {
  const traits = smtpProviderTraits(account);
  const waiting = new Map<number, (result: ProviderResult) => void>();
  let nextId = 0;
  let thread: Worker | null = null;

  // A thread that stops with sends in hand may have passed them to the server: their outcome is unknown, never retried.
  const giveUpWaiting = (message: string) => {
    for (const settle of waiting.values()) settle({ status: 'unknown', error: { code: 'SMTP_CONNECTION_LOST', message } });
    waiting.clear();
  };
  const started = (): Worker => {
    if (thread) return thread;
    const worker = new Worker(join(__dirname, 'smtp-thread-entry.js'), { workerData: account, name: THREAD_NAME });
    worker.on('message', ({ id, result }: ThreadReply) => {
      waiting.get(id)?.(result);
      waiting.delete(id);
    });
    worker.on('error', (err) => giveUpWaiting(`the SMTP thread failed: ${err.message}`));
    worker.on('exit', () => {
      if (thread === worker) thread = null;
      giveUpWaiting('the SMTP thread stopped');
    });
    return (thread = worker);
  };

  return {
    ...traits,
    send(delivery: Delivery): Promise<ProviderResult> {
      const worker = started();
      const id = nextId++;
      return new Promise<ProviderResult>((resolve) => {
        waiting.set(id, resolve);
        worker.postMessage({ type: 'send', id, delivery: { _id: delivery._id, to: delivery.to, content: delivery.content } } satisfies ThreadRequest);
      });
    },
    close() {
      const worker = thread;
      if (!worker) return;
      thread = null;
      worker.postMessage({ type: 'close' } satisfies ThreadRequest);
      const stop = setTimeout(() => void worker.terminate(), CLOSE_GRACE_MS);
      worker.once('exit', () => clearTimeout(stop));
    },
  };
}
