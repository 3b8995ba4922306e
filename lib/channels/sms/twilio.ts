/**
 * SMS through Twilio's Messages API with the official SDK. The SDK's own HTTP client is
 * used, subclassed only to send its requests to another base URL when one is set (a
 * proxy, a regional gateway, or a test server) and to see the Retry-After of a refusal,
 * which the SDK's exceptions do not carry.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import twilio from 'twilio';
import type { Delivery, NotSentReason } from '../delivery.js';
import type { Provider, ProviderResult } from '../outbox.js';
import { retryPolicyOf, timeoutMsOf, type RetrySettings } from '../retry.js';

/** `timeoutSeconds` bounds each API request, from connecting to the last byte of the answer. */
export interface TwilioAccount extends RetrySettings {
  accountSid: string;
  authToken: string;
  /** An E.164 sender number, or a messaging service SID (MG…) to let Twilio pick the sender. */
  from: string;
  /** Where the API is instead of https://api.twilio.com (no trailing slash needed). */
  baseUrl?: string;
}

const ACCOUNT_SID = /^AC[0-9a-fA-F]{32}$/;
const SERVICE_SID = /^MG[0-9a-fA-F]{32}$/;
const SENDER = /^\+[1-9]\d{1,14}$/;

export const isAccountSid = (value: string): boolean => ACCOUNT_SID.test(value);
export const isMessagingServiceSid = (value: string): boolean => SERVICE_SID.test(value);

/** Why these settings cannot send, or null. */
export function twilioAccountProblem(account: TwilioAccount): string | null {
  if (!isAccountSid(account.accountSid)) return 'the account SID is AC followed by 32 hexadecimal characters';
  if (!account.authToken) return 'the auth token is missing (a credential of the Twilio account)';
  if (!isMessagingServiceSid(account.from) && !SENDER.test(account.from)) return 'the sender is an E.164 number (+15551234567) or a messaging service SID (MG…)';
  if (account.baseUrl) {
    let url: URL | null = null;
    try {
      url = new URL(account.baseUrl);
    } catch {
      url = null;
    }
    if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) return 'the API base URL must be an http(s) URL';
  }
  return null;
}

/** Per send: what the HTTP client saw of a refusal that the SDK's exception drops. */
interface Seen {
  retryAfterMs?: number;
}
const seen = new AsyncLocalStorage<Seen>();

/** Retry-After as milliseconds: delta-seconds or an HTTP date. */
export function retryAfterMs(header: unknown, now = Date.now()): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (typeof value !== 'string' && typeof value !== 'number') return undefined;
  const text = String(value).trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

type RequestOptions<T> = Parameters<twilio.RequestClient['request']>[0] & { data?: T };

class RoutedClient extends twilio.RequestClient {
  constructor(
    private readonly base: string | null,
    timeoutMs: number,
  ) {
    super({ timeout: timeoutMs, keepAlive: true });
  }

  override async request<TData>(opts: RequestOptions<TData>) {
    let uri = opts.uri;
    if (this.base) {
      const sdkUrl = new URL(opts.uri);
      uri = `${this.base}${sdkUrl.pathname}${sdkUrl.search}`;
    }
    const response = await super.request<TData>({ ...opts, uri });
    const slot = seen.getStore();
    if (slot && response.statusCode >= 400) slot.retryAfterMs = retryAfterMs((response.headers as Record<string, unknown> | undefined)?.['retry-after']);
    return response;
  }
}

export interface TwilioProviderOptions {
  /**
   * The URL Twilio should report each message's delivery to, asked at every send (the store
   * that takes the receipts can be chosen or redeployed after the provider is made); null: none.
   */
  statusCallback?: () => string | null;
}

export function twilioProvider(account: TwilioAccount, options: TwilioProviderOptions = {}): Provider {
  const base = account.baseUrl ? account.baseUrl.replace(/\/+$/, '') : null;
  const timeoutMs = timeoutMsOf(account);
  const client = twilio(account.accountSid, account.authToken, { httpClient: new RoutedClient(base, timeoutMs) });
  const sender = isMessagingServiceSid(account.from) ? { messagingServiceSid: account.from } : { from: account.from };
  return {
    name: 'twilio',
    outbox: false,
    timeoutMs,
    retry: retryPolicyOf(account),
    async send(delivery: Delivery): Promise<ProviderResult> {
      const to = delivery.to[0];
      if (!to) return { status: 'failed', reason: 'no-address', error: { code: 'SMS_NO_ADDRESS', message: 'the delivery has no phone number' } };
      const slot: Seen = {};
      const statusCallback = options.statusCallback?.();
      try {
        const message = await seen.run(slot, () =>
          client.messages.create({ to, body: delivery.content.body ?? '', ...sender, ...(statusCallback ? { statusCallback } : {}) }),
        );
        return { status: 'sent', providerMessageId: message.sid };
      } catch (err) {
        return classify(err, slot.retryAfterMs);
      }
    },
  };
}

/** Twilio error codes that say the number itself is wrong, not the request. */
const BAD_NUMBER = new Set([21211, 21214, 21217, 21614]);
/** The recipient replied STOP: Twilio refuses to message them until they reply START. */
export const TWILIO_STOPPED = 21610;

/** Network errors that mean the request never left this machine or never found Twilio: safe to send again. */
const NOT_REACHED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * 429 and 5xx answers, and a Twilio that cannot be reached, are transient; other 4xx
 * answers are final. A request that got no answer (a timeout, a connection cut) may have
 * created the message, and Twilio takes no idempotency key: its outcome is unknown, never
 * retried. Twilio puts its own error code in the body: 21610 (the person replied STOP) and
 * 21211/21614 (not a valid / not a mobile number) name a reason the flow can act on.
 */
export function classify(err: unknown, retryAfter?: number): ProviderResult {
  const e = err as Error & { status?: unknown; code?: unknown; moreInfo?: unknown };
  const message = e?.message ? String(e.message) : String(err);
  const status = typeof e?.status === 'number' ? e.status : null;
  if (status === null) {
    // Axios errors carry a string code (ECONNREFUSED, ECONNABORTED for a timeout...); an error without one came from the SDK itself.
    const network = typeof e?.code === 'string' ? e.code : null;
    if (network === null) return { status: 'failed', error: { code: 'TWILIO_ERROR', message } };
    const detail = `${network}: ${message}`;
    if (NOT_REACHED.has(network)) return { status: 'retry', error: { code: 'TWILIO_UNAVAILABLE', message: detail } };
    return { status: 'unknown', error: { code: 'TWILIO_NO_ANSWER', message: detail } };
  }
  const twilioCode = typeof e.code === 'number' ? e.code : null;
  const code = twilioCode !== null ? `TWILIO_${twilioCode}` : `TWILIO_HTTP_${status}`;
  const detail = twilioCode !== null ? `${message} (Twilio error ${twilioCode}, HTTP ${status})` : `${message} (HTTP ${status})`;
  if (status === 429 || status >= 500) return { status: 'retry', error: { code, message: detail }, ...(retryAfter !== undefined ? { retryAfterMs: retryAfter } : {}) };
  if (status === 401 || status === 403) return { status: 'failed', error: { code: 'TWILIO_AUTH', message: detail } };
  let reason: NotSentReason = 'provider-rejected';
  if (twilioCode === TWILIO_STOPPED) reason = 'stop';
  else if (twilioCode !== null && BAD_NUMBER.has(twilioCode)) reason = 'bad-address';
  return { status: 'failed', reason, error: { code, message: detail } };
}
