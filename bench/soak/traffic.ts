/**
 * The soak's traffic: events for the example flows' endpoints, drawn from a fixed mix of
 * kinds over a population that grows as new people arrive and returns to known ones, and
 * offered open-loop at a set rate (each on its own schedule, whether or not earlier ones
 * were answered), as real senders would.
 */
import { Agent, request } from 'node:http';
import { signWebhook, SIGNATURE_HEADER, TIMESTAMP_HEADER } from '../../lib/index.js';
import { mulberry32 } from '../../test/support/random.js';

export type Endpoint = 'capture' | 'welcome' | 'orders' | 'promo' | 'shop';

export const PATHS: Record<Endpoint, string> = {
  capture: '/journeys/events',
  welcome: '/journeys/welcome/events',
  orders: '/journeys/hooks/orders',
  promo: '/promo/events',
  shop: '/shop/events',
};

/** The journey each endpoint's event-in starts (Capture events has none). */
export const JOURNEYS: Record<Endpoint, string | null> = {
  capture: null,
  welcome: 'welcome-series',
  orders: 'order-follow-up',
  promo: 'promo',
  shop: 'abandoned-cart',
};

/** Kinds of event and their share of the traffic, in percent. */
export const MIX = {
  'page view': 18,
  'capture sign-up': 6,
  'welcome sign-up': 14,
  'welcome sign-up again': 2,
  'first purchase': 3,
  order: 20,
  'promo start': 11,
  'promo purchase': 3,
  'cart abandoned': 12,
  'cart purchase': 4,
  'retry (same messageId)': 5,
  'invalid (no identity)': 1,
  'forged signature': 1,
} as const;

export type Kind = keyof typeof MIX;

export interface Offer {
  seq: number;
  kind: Kind;
  endpoint: Endpoint;
  /** The event's name. */
  name: string;
  person: number;
  /** Whether the person had been seen before this event. */
  returning: boolean;
  messageId: string;
  body: string;
  signature: 'valid' | 'forged' | null;
  /** For a cart: its value, which decides whether the SMS follows. */
  cartValue?: number;
}

/** How the flow answered: entered its journey, recorded only (also an event that starts no journey), or refused with a code. */
export type Outcome = 'entered' | 'recorded' | string;

export interface Answer {
  seq: number;
  kind: Kind;
  endpoint: Endpoint;
  name: string;
  returning: boolean;
  cartValue?: number;
  /** When it was offered and how long the answer took (ms). */
  at: number;
  ms: number;
  status: number;
  outcome: Outcome;
  profileId?: string;
}

interface Person {
  n: number;
  welcomed: boolean;
  promoted: boolean;
  capturedSignUp: boolean;
  lastOrderAt: number;
  lastCartAt: number;
}

/** People pick a returning person from here at random; new people join it. */
const RETURNING_SHARE = 0.5;
/** A person's orders are this far apart at least, so each confirmation can be told to belong to its order. */
const ORDER_SPACING_MS = 10_000;
/** Retries resend an event offered at least this long ago, so the original has been taken first; from the last RECENT offers. */
const RETRY_AGE_MS = 2_000;
const RECENT = 2_000;
const FIRST_NAMES = ['Ada', 'Bob', 'Cem', 'Dee', 'Eve', 'Fay', 'Gus', 'Hal'];
const INTERESTS = ['pricing', 'shoes', 'tents', 'books', 'coffee'];

export const emailOf = (n: number) => `soak-p${n}@example.com`;
export const phoneOf = (n: number) => `+1555${String(n).padStart(7, '0')}`;

/** Draws events from MIX with a seeded generator: the same seed gives the same traffic. */
export class EventMix {
  private readonly people: Person[] = [];
  private readonly welcomed: number[] = [];
  private readonly promoted: number[] = [];
  private readonly anonymousOnly: number[] = [];
  private readonly carts: number[] = [];
  private readonly recent: Array<{ offer: Offer; at: number }> = [];
  private readonly cumulative: Array<[Kind, number]>;
  private random: () => number;

  constructor(
    private readonly timezone: string,
    private readonly cartWindowMs: number,
    seed = 1,
  ) {
    this.random = mulberry32(seed);
    let sum = 0;
    this.cumulative = (Object.entries(MIX) as Array<[Kind, number]>).map(([kind, share]) => [kind, (sum += share)]);
  }

  next(seq: number, now: number): Offer {
    const roll = this.random() * 100;
    const kind = this.cumulative.find(([, upTo]) => roll < upTo)![0];
    return this.make(kind, seq, now);
  }

  private make(kind: Kind, seq: number, now: number): Offer {
    const id = `soak-${seq}`;
    const firstName = this.pick(FIRST_NAMES);
    switch (kind) {
      case 'page view': {
        const [p, returning] = this.anyone();
        if (!returning) this.anonymousOnly.push(p.n);
        const event = { name: 'page_viewed', identities: { anonymousId: `anon-${p.n}` }, properties: { path: `/${this.pick(INTERESTS)}` }, traits: { interests: this.pick(INTERESTS), visits: 1 } };
        return this.offer(kind, seq, 'capture', p, returning, id, event);
      }
      case 'capture sign-up': {
        const n = this.anonymousOnly.pop();
        const [p, returning] = n === undefined ? [this.newPerson(), false] : [this.people[n]!, true];
        p.capturedSignUp = true;
        const event = {
          name: 'signed_up',
          identities: { anonymousId: `anon-${p.n}`, email: emailOf(p.n) },
          traits: { firstName, firstSource: 'pricing-page', visits: 1 },
          consent: { email: true },
        };
        return this.offer(kind, seq, 'capture', p, returning, id, event);
      }
      case 'welcome sign-up': {
        const [p, returning] = this.someone((q) => !q.welcomed);
        p.welcomed = true;
        this.welcomed.push(p.n);
        const event = { name: 'signed_up', identities: { email: emailOf(p.n) }, traits: { firstName, plan: this.pick(['free', 'pro']) }, consent: { email: true } };
        return this.offer(kind, seq, 'welcome', p, returning, id, event);
      }
      case 'welcome sign-up again':
      case 'first purchase': {
        const p = this.known(this.welcomed);
        if (!p) return this.make('welcome sign-up', seq, now);
        const event =
          kind === 'first purchase'
            ? { name: 'first_purchase', identities: { email: emailOf(p.n) }, properties: { total: 42 } }
            : { name: 'signed_up', identities: { email: emailOf(p.n) }, traits: { firstName }, consent: { email: true } };
        return this.offer(kind, seq, 'welcome', p, true, id, event);
      }
      case 'order': {
        let [p, returning] = this.anyone();
        if (now - p.lastOrderAt < ORDER_SPACING_MS) [p, returning] = [this.newPerson(), false];
        p.lastOrderAt = now;
        const event = { name: 'order_placed', identities: { email: emailOf(p.n) }, traits: { firstName }, properties: { total: 10 + Math.floor(this.random() * 200), currency: 'EUR' } };
        return this.offer(kind, seq, 'orders', p, returning, id, event, 'valid');
      }
      case 'promo start': {
        const [p, returning] = this.anyone();
        if (!p.promoted) this.promoted.push(p.n);
        p.promoted = true;
        return this.offer(kind, seq, 'promo', p, returning, id, { name: 'promo_start', identities: { email: emailOf(p.n) }, traits: { firstName } });
      }
      case 'promo purchase': {
        const p = this.known(this.promoted);
        if (!p) return this.make('promo start', seq, now);
        return this.offer(kind, seq, 'promo', p, true, id, { name: 'purchase', identities: { email: emailOf(p.n) }, properties: { total: 42 } });
      }
      case 'cart abandoned': {
        const [p, returning] = this.anyone();
        p.lastCartAt = now;
        this.carts.push(p.n);
        const cartValue = 20 + Math.floor(this.random() * 281);
        const event = {
          name: 'cart_abandoned',
          identities: { email: emailOf(p.n), phone: phoneOf(p.n) },
          traits: { firstName, cartValue, timezone: this.timezone },
          consent: { email: true, sms: true },
          properties: { items: 1 + Math.floor(this.random() * 4) },
        };
        return { ...this.offer(kind, seq, 'shop', p, returning, id, event), cartValue };
      }
      case 'cart purchase': {
        // Someone whose cart is still within its purchase window, when there is one: the goal.
        while (this.carts.length > 0 && now - this.people[this.carts[0]!]!.lastCartAt > this.cartWindowMs) this.carts.shift();
        const n = this.carts.length > 0 ? this.carts[Math.floor(this.random() * this.carts.length)]! : undefined;
        if (n === undefined) return this.make('cart abandoned', seq, now);
        const p = this.people[n]!;
        return this.offer(kind, seq, 'shop', p, true, id, { name: 'purchase', identities: { email: emailOf(p.n) }, properties: { total: 99 } });
      }
      case 'retry (same messageId)': {
        const old = this.recent.findLastIndex((r) => now - r.at >= RETRY_AGE_MS);
        if (old < 0) return this.make('page view', seq, now);
        return { ...this.recent[Math.floor(this.random() * (old + 1))]!.offer, seq, kind, returning: true };
      }
      case 'invalid (no identity)':
        return this.offer(kind, seq, 'capture', this.newPerson(), false, id, { name: 'page_viewed', identities: {}, properties: { path: '/' } });
      case 'forged signature': {
        const [p, returning] = this.anyone();
        return this.offer(kind, seq, 'orders', p, returning, id, { name: 'order_placed', identities: { email: emailOf(p.n) }, properties: { total: 1 } }, 'forged');
      }
    }
  }

  private offer(kind: Kind, seq: number, endpoint: Endpoint, p: Person, returning: boolean, messageId: string, event: Record<string, unknown>, signature: Offer['signature'] = null): Offer {
    const offer: Offer = { seq, kind, endpoint, name: String(event.name), person: p.n, returning, messageId, body: JSON.stringify({ ...event, messageId }), signature };
    if (signature !== 'forged' && kind !== 'invalid (no identity)') {
      this.recent.push({ offer, at: Date.now() });
      if (this.recent.length > 2 * RECENT) this.recent.splice(0, RECENT);
    }
    return offer;
  }

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)]!;
  }

  private newPerson(): Person {
    const p: Person = { n: this.people.length, welcomed: false, promoted: false, capturedSignUp: false, lastOrderAt: -Infinity, lastCartAt: -Infinity };
    this.people.push(p);
    return p;
  }

  /** A returning person (at RETURNING_SHARE) or a new one; says which. */
  private anyone(): [Person, boolean] {
    if (this.people.length > 0 && this.random() < RETURNING_SHARE) return [this.pick(this.people), true];
    return [this.newPerson(), false];
  }

  /** Like anyone(), but a returning person must pass `fits` (a few tries), else someone new. */
  private someone(fits: (p: Person) => boolean): [Person, boolean] {
    for (let i = 0; i < 3 && this.people.length > 0 && this.random() < RETURNING_SHARE; i++) {
      const p = this.pick(this.people);
      if (fits(p)) return [p, true];
    }
    return [this.newPerson(), false];
  }

  private known(list: number[]): Person | undefined {
    return list.length > 0 ? this.people[this.pick(list)] : undefined;
  }
}

/** What a flow's answer says became of the event. */
export function outcomeOf(status: number, json: unknown): Outcome {
  const body = (typeof json === 'object' && json !== null ? json : {}) as Record<string, unknown>;
  const code = (v: unknown): string | undefined => (typeof v === 'string' ? v : typeof v === 'object' && v !== null && typeof (v as { code?: unknown }).code === 'string' ? (v as { code: string }).code : undefined);
  if (status === 401) return code(body.error) ?? 'HTTP 401';
  if (body.duplicate === true) return 'DUPLICATE';
  const refused = code(body.error) ?? code(body.reason);
  if (refused === 'NOT_A_TRIGGER') return 'recorded';
  if (refused) return refused;
  if (status >= 300) return `HTTP ${status}`;
  // The A/B flow answers after its send, with the variant taken.
  if (body.entered === true || typeof body.variant === 'string') return 'entered';
  return 'recorded';
}

/**
 * Posts one offer; resolves with its answer, never rejects (a failure is an outcome). A
 * request written on a kept-alive socket the server was closing meanwhile is sent again
 * once, as Node's documentation advises (`request.reusedSocket`): the server never read it.
 * The time limit runs from the offer, queueing for a socket included, as a sender's would:
 * it bounds the run when the flows fall behind.
 */
export function post(agent: Agent, base: URL, offer: Offer, secret: string, timeoutMs: number, retry = true): Promise<{ status: number; json: unknown; error?: string }> {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(offer.body)) };
  if (offer.signature) {
    const ts = String(Math.floor(Date.now() / 1000));
    headers[TIMESTAMP_HEADER] = ts;
    headers[SIGNATURE_HEADER] = signWebhook(offer.signature === 'valid' ? secret : `not-${secret}`, ts, offer.body);
  }
  return new Promise<{ status: number; json: unknown; error?: string }>((resolve) => {
    const req = request(new URL(PATHS[offer.endpoint], base), { method: 'POST', agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        let json: unknown;
        try {
          json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, json });
      });
      res.on('error', (err) => resolve({ status: 0, json: undefined, error: err.message }));
    });
    const timer = setTimeout(() => req.destroy(new Error('timeout')), timeoutMs);
    req.on('close', () => clearTimeout(timer));
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (retry && req.reusedSocket && err.code === 'ECONNRESET') return void resolve(post(agent, base, offer, secret, timeoutMs, false));
      resolve({ status: 0, json: undefined, error: err.message === 'timeout' ? 'TIMEOUT' : `CONNECTION (${err.code ?? err.message})` });
    });
    req.end(offer.body);
  });
}

export interface DriveOptions {
  url: string;
  rate: number;
  seconds: number;
  mix: EventMix;
  secret: string;
  /** Called about once a second with what has been offered and answered so far. */
  progress?(offered: number, answered: number, inFlight: number): void;
}

const TICK_MS = 10;
const ANSWER_TIMEOUT_MS = 60_000;

/** Offers `rate` events a second for `seconds`, open-loop; resolves with every answer once all are in. */
export async function drive(options: DriveOptions): Promise<{ answers: Answer[]; offered: number; seconds: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const base = new URL(options.url);
  const answers: Answer[] = [];
  const pending = new Set<Promise<void>>();
  const total = Math.round(options.rate * options.seconds);
  const started = Date.now();
  let offered = 0;
  let lastProgress = started;
  while (offered < total) {
    const now = Date.now();
    const due = Math.min(total, Math.floor(((now - started) * options.rate) / 1000));
    for (; offered < due; offered++) {
      const offer = options.mix.next(offered, now);
      const at = Date.now();
      const task = post(agent, base, offer, options.secret, ANSWER_TIMEOUT_MS).then(({ status, json, error }) => {
        const profileId = (json as { profileId?: unknown } | undefined)?.profileId;
        answers.push({
          seq: offer.seq,
          kind: offer.kind,
          endpoint: offer.endpoint,
          name: offer.name,
          returning: offer.returning,
          ...(offer.cartValue === undefined ? {} : { cartValue: offer.cartValue }),
          at,
          ms: Date.now() - at,
          status,
          outcome: error ?? outcomeOf(status, json),
          ...(typeof profileId === 'string' ? { profileId } : {}),
        });
        pending.delete(task);
      });
      pending.add(task);
    }
    if (options.progress && now - lastProgress >= 1_000) {
      lastProgress = now;
      options.progress(offered, answers.length, pending.size);
    }
    await new Promise((r) => setTimeout(r, TICK_MS));
  }
  const seconds = (Date.now() - started) / 1000;
  while (pending.size > 0) {
    options.progress?.(offered, answers.length, pending.size);
    await Promise.race([Promise.all(pending), new Promise((r) => setTimeout(r, 1_000))]);
  }
  agent.destroy();
  return { answers, offered, seconds };
}
