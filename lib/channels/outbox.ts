/**
 * The outbox: how a delivery goes from rendered to sent exactly once.
 *
 * A delivery is recorded (`queued`) before any provider sees it, under its unique key, so a
 * second send of the same message finds the record and stops. Each attempt claims the
 * record (`queued` -> `sending`, one conditional write, so only one process or loop can
 * hold it), calls the provider and writes the outcome. Transient failures go back to
 * `queued` with a later `dueAt` and are retried with backoff; permanent ones fail once.
 *
 * After a crash, a sender's recovery sweep finds its deliveries left `queued` and sends
 * them. One left `sending` may or may not have reached the provider (none of the three
 * takes an idempotency key), so it is never sent again: it fails as `unknown-outcome`.
 * Sending twice is the failure this package promises not to have.
 */
import { randomUUID } from 'node:crypto';
import type { Filter, Store, Update } from '../store/port.js';
import { COLLECTIONS } from '../store/schema.js';
import type { Delivery, DeliveryError, NotSentReason } from './delivery.js';
import { countDelivery, finalCounts } from '../reports/delivery-counters.js';
import { releaseSlot } from './frequency-cap.js';
import { DuplicateKeyError } from '../store/port.js';
import { backoffMs, DEFAULT_RETRY, longestWaitMs, type RetryPolicy } from './retry.js';
import { Slots } from './slots.js';

export type ProviderResult =
  | { status: 'sent'; providerMessageId: string; results?: Delivery['results']; badAddresses?: string[] }
  | { status: 'retry'; error: DeliveryError; retryAfterMs?: number }
  | { status: 'failed'; error: DeliveryError; reason?: NotSentReason; badAddresses?: string[] }
  /** The provider may or may not have taken it (a connection lost mid-send): never retried. */
  | { status: 'unknown'; error: DeliveryError };

/** A channel's way out: SMTP, Twilio, FCM, or the outbox that records and sends nothing. */
export interface Provider {
  readonly name: string;
  /** True when nothing is handed on (dry-run). */
  readonly outbox: boolean;
  /** How long one send may take at most before it gives up (its lease is longer). */
  readonly timeoutMs?: number;
  /** The account's retry policy; DEFAULT_RETRY when it names none. */
  readonly retry?: RetryPolicy;
  send(delivery: Delivery): Promise<ProviderResult>;
  /** How many sends it works on at once, when it queues the rest inside itself (see slots.ts). */
  readonly concurrency?: number;
}

const providerSlots = new WeakMap<Provider, Slots>();

/** The provider's slots (none for one that does not queue inside itself). */
function slotsOf(provider: Provider): Slots | null {
  if (!provider.concurrency) return null;
  let slots = providerSlots.get(provider);
  if (!slots) providerSlots.set(provider, (slots = new Slots(provider.concurrency)));
  return slots;
}

/** How long an attempt may hold a delivery before its outcome counts as unknown, for a provider that names no timeout. */
export const SEND_LEASE_MS = 120_000;
/** A queued delivery overdue by this much has lost its process: the sweep takes it (the claim is atomic, so a live process racing it is harmless). */
export const RECOVERY_GRACE_MS = 5_000;

/** A send's lease: comfortably past the provider's own timeout, so a slow send is never taken for a lost one. */
export const leaseMs = (provider: Provider): number => (provider.timeoutMs ? 4 * provider.timeoutMs + 5_000 : SEND_LEASE_MS);

/** The outbox provider: what every sender uses when no account is configured. */
export const OUTBOX_PROVIDER: Provider = {
  name: 'outbox',
  outbox: true,
  send: async (delivery) => ({ status: 'sent', providerMessageId: `outbox:${delivery._id}` }),
};

export interface DeliverOptions {
  /** Overrides the provider's own policy. */
  retry?: RetryPolicy;
  /** Stops waiting between attempts (the node is closing): the delivery stays queued for the sweep. */
  signal?: AbortSignal;
  /**
   * Stops waiting for a provider's answer (the node must finish closing): the send in
   * flight may still go out, so it ends `unknown-outcome` and is never sent again.
   */
  abandon?: AbortSignal;
  now?: () => Date;
}

export class Outbox {
  constructor(private readonly store: Store) {}

  private get deliveries() {
    return this.store.collection<Delivery>(COLLECTIONS.deliveries);
  }

  get(id: string): Promise<Delivery | null> {
    return this.deliveries.findOne({ _id: id });
  }

  /** Records a new delivery; if its key is taken, returns the one already there instead. */
  async create(delivery: Delivery): Promise<{ created: boolean; delivery: Delivery }> {
    try {
      await this.deliveries.insertOne(delivery);
      await countDelivery(this.store, delivery, finalCounts(delivery));
      return { created: true, delivery };
    } catch (err) {
      if (!(err instanceof DuplicateKeyError)) throw err;
      const existing = await this.get(delivery._id);
      if (!existing) throw err;
      return { created: false, delivery: existing };
    }
  }

  /** Sends a queued delivery, retrying transient failures; resolves with its final (or, if aborted, queued) record. */
  async deliver(id: string, provider: Provider, options: DeliverOptions = {}): Promise<Delivery | null> {
    const policy = options.retry ?? provider.retry ?? DEFAULT_RETRY;
    const now = options.now ?? (() => new Date());
    for (;;) {
      const after = await this.attempt(id, provider, policy, now(), options.abandon);
      if (!after || after.status !== 'queued') return after;
      const delay = after.dueAt.getTime() - now().getTime();
      if (delay > 0 && !(await sleep(delay, options.signal))) return after;
    }
  }

  /** One attempt, if the delivery is queued and due. Returns the record afterwards (null if there is none). */
  async attempt(id: string, provider: Provider, policy: RetryPolicy, now: Date, abandon?: AbortSignal): Promise<Delivery | null> {
    if (abandon?.aborted) return this.get(id);
    const asked = Date.now();
    const release = await slotsOf(provider)?.take();
    try {
      // The lease runs from when the send can start, not from when it joined the line.
      return await this.attemptInSlot(id, provider, policy, new Date(now.getTime() + Date.now() - asked), release, abandon);
    } finally {
      release?.();
    }
  }

  private async attemptInSlot(
    id: string,
    provider: Provider,
    policy: RetryPolicy,
    now: Date,
    release: (() => void) | undefined,
    abandon?: AbortSignal,
  ): Promise<Delivery | null> {
    const claim = await this.change(
      id,
      { status: 'queued', dueAt: { $lte: now } },
      { $set: { status: 'sending', leaseUntil: new Date(now.getTime() + leaseMs(provider)), updatedAt: now }, $inc: { attempts: 1 } },
    );
    if (!claim.applied || !claim.doc) return claim.doc;
    const claimed = claim.doc;
    let result: ProviderResult;
    try {
      result = await answerUnlessAbandoned(provider.send(claimed), provider, abandon);
    } catch (err) {
      // A provider adapter that throws has a bug or met something it did not expect: fail once, clearly.
      result = { status: 'failed', error: { code: 'PROVIDER_ERROR', message: err instanceof Error ? err.message : String(err) } };
    }
    // The provider is done with it: the next delivery may go out while this outcome is recorded.
    release?.();
    const at = new Date();
    if (result.status === 'sent') {
      return this.settle(claimed, {
        status: 'sent',
        sentAt: at,
        providerMessageId: result.providerMessageId,
        ...(result.results ? { results: result.results } : {}),
        ...(result.badAddresses?.length ? { badAddresses: result.badAddresses } : {}),
      });
    }
    // Retrying before the provider's Retry-After would only be refused again: a wait longer than the policy allows ends the send.
    if (result.status === 'retry' && result.retryAfterMs !== undefined && result.retryAfterMs > longestWaitMs(policy)) {
      const detail = `${result.error.message}; the provider asked to wait ${Math.ceil(result.retryAfterMs / 1000)} s, longer than a send waits (${longestWaitMs(policy) / 1000} s)`;
      return this.settle(claimed, { status: 'failed', reason: 'provider-unavailable', detail, error: result.error });
    }
    if (result.status === 'retry' && claimed.attempts < policy.attempts) {
      return this.settle(claimed, {
        status: 'queued',
        error: result.error,
        dueAt: new Date(at.getTime() + backoffMs(policy, claimed.attempts, result.retryAfterMs)),
      });
    }
    const reason: NotSentReason =
      result.status === 'failed' ? (result.reason ?? 'provider-rejected') : result.status === 'unknown' ? 'unknown-outcome' : 'provider-unavailable';
    const bad = result.status === 'failed' && result.badAddresses?.length ? { badAddresses: result.badAddresses } : {};
    return this.settle(claimed, { status: 'failed', reason, detail: result.error.message, error: result.error, ...bad });
  }

  /** Ends a delivery without sending it (its journey ended meanwhile, say). */
  async skip(id: string, reason: NotSentReason, detail: string): Promise<Delivery | null> {
    const current = await this.get(id);
    if (!current || current.status !== 'queued') return current;
    return this.settle(current, { status: 'skipped', reason, detail });
  }

  /**
   * A sender's sweep after a restart or a lost process: sends what was left queued, and
   * fails what was left mid-send. Returns how many of each.
   */
  async recover(node: string, provider: Provider, options: DeliverOptions = {}): Promise<{ resent: number; unknown: number }> {
    const now = (options.now ?? (() => new Date()))();
    const stale: Delivery[] = [];
    for await (const d of this.deliveries.find(
      { node, status: 'sending', leaseUntil: { $lt: now } },
      { limit: 500 },
    )) stale.push(d);
    let unknown = 0;
    for (const d of stale) {
      const ended = await this.settle(d, lostMidSend(d));
      if (ended?.status === 'failed') unknown += 1;
    }
    const queued: string[] = [];
    for await (const d of this.deliveries.find(
      { node, status: 'queued', dueAt: { $lte: new Date(now.getTime() - RECOVERY_GRACE_MS) } },
      { limit: 500, projection: { _id: 1 } },
    )) queued.push(d._id);
    let resent = 0;
    for (const id of queued) {
      const after = await this.deliver(id, provider, options);
      if (after?.status === 'sent') resent += 1;
    }
    return { resent, unknown };
  }

  /**
   * The delivery's final outcome, for a msg sent again after its process died: a delivery
   * left queued is sent now, and one left mid-send is settled `unknown-outcome` once its
   * lease has run out (as the sweep would), so the flow goes on the way the send went.
   * Resolves null if the delivery is gone, or undecided if `signal` stops the wait.
   */
  async outcome(id: string, provider: Provider, options: DeliverOptions = {}): Promise<Delivery | null> {
    const now = options.now ?? (() => new Date());
    for (;;) {
      const d = await this.get(id);
      if (!d || (d.status !== 'queued' && d.status !== 'sending')) return d;
      if (d.status === 'queued') {
        const after = await this.deliver(id, provider, options);
        if (!after || after.status !== 'sending' || options.signal?.aborted) return after;
        continue;
      }
      const leftMs = (d.leaseUntil?.getTime() ?? 0) - now().getTime();
      if (leftMs < 0) {
        await this.settle(d, lostMidSend(d));
        continue;
      }
      // Another attempt holds it: its outcome, or its lease running out, comes first.
      if (!(await sleep(Math.min(leftMs + 1, 1_000), options.signal))) return d;
    }
  }

  /** Writes an outcome if the delivery is still as it was read (status and attempt); gives back its cap slot if it did not go out. */
  private async settle(from: Delivery, change: Partial<Delivery>): Promise<Delivery | null> {
    const at = new Date();
    const unset: Record<string, ''> = { leaseUntil: '' };
    if (change.status === 'sent') unset.error = '';
    const { applied, doc: after } = await this.change(from._id, { status: from.status, attempts: from.attempts }, { $set: { ...change, updatedAt: at }, $unset: unset });
    if (!applied || !after) return after;
    if (after.status !== from.status) await countDelivery(this.store, after, finalCounts(after));
    if ((after.status === 'failed' || after.status === 'skipped') && after.capReservedAt) {
      await releaseSlot(this.store, after.channel, after.profileId, after.capReservedAt);
    }
    return after;
  }

  /**
   * A conditional change to a delivery (`where` its current state), and the delivery
   * afterwards, whether the change applied or not (null if there is none). The change is
   * shared with other deliveries' (one bulk write per batch on MongoDB), and such a batch
   * tells only how many of its changes applied: when some did not, the mark this one wrote
   * tells whether it did. Claims and outcomes decide that a message goes out once, so that
   * answer must be exact.
   */
  private async change(id: string, where: Filter, update: Update & { $set: Partial<Delivery> }): Promise<{ applied: boolean; doc: Delivery | null }> {
    const changeId = randomUUID();
    const outcome = await this.deliveries.updateById(id, { ...update, $set: { ...update.$set, changeId } }, where);
    const doc = await this.get(id);
    return { applied: outcome === 'matched' || (outcome === 'unknown' && doc?.changeId === changeId), doc };
  }
}

/** The provider's answer, or `unknown` as soon as `abandon` aborts (the call itself runs on: it cannot be taken back). */
function answerUnlessAbandoned(sending: Promise<ProviderResult>, provider: Provider, abandon?: AbortSignal): Promise<ProviderResult> {
  if (!abandon) return sending;
  return new Promise((resolve, reject) => {
    const onAbandon = () =>
      resolve({ status: 'unknown', error: { code: 'ABANDONED', message: `the sending node stopped before ${provider.name} answered; it may or may not have gone out` } });
    abandon.addEventListener('abort', onAbandon, { once: true });
    sending.then(
      (result) => {
        abandon.removeEventListener('abort', onAbandon);
        resolve(result);
      },
      (err: unknown) => {
        abandon.removeEventListener('abort', onAbandon);
        reject(err);
      },
    );
  });
}

/** Resolves true after `ms`, or false as soon as `signal` aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The outcome of a delivery whose sending process stopped mid-send: it may have gone out, so it is never sent again. */
const lostMidSend = (d: Delivery): Partial<Delivery> => ({
  status: 'failed',
  reason: 'unknown-outcome',
  detail: `the process sending it stopped after handing it to ${d.provider}; it may or may not have gone out, so it is not sent again`,
});
