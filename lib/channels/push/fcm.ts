/**
 * Push through Firebase Cloud Messaging with firebase-admin: one message per token, in one
 * sendEach call. Tokens FCM calls dead come back as `badAddresses`, whatever becomes of the
 * delivery, for the channel to remove from the profile.
 */
import { randomUUID } from 'node:crypto';
import { cert, deleteApp, initializeApp, type App, type Credential, type ServiceAccount } from 'firebase-admin/app';
import type { Agent } from 'node:https';
import { getMessaging, type Message, type Messaging, type SendResponse } from 'firebase-admin/messaging';
import type { Delivery, DeliveryError } from '../delivery.js';
import type { Provider, ProviderResult } from '../outbox.js';
import { retryPolicyOf, timeoutMsOf, withDeadline, type RetrySettings } from '../retry.js';
import { endpointAgent } from './endpoint.js';
import type { ServiceAccountJson } from './service-account.js';

/** `timeoutSeconds` bounds each step: signing in at Google's token endpoint, then the send (twice that). */
export interface FcmAccount extends RetrySettings {
  serviceAccount: ServiceAccountJson;
  projectId: string;
  /** Where Google's API requests go instead (a proxy, a test double); empty: Google. */
  endpoint?: string;
  /** Part of the firebase app's name, to recognise it (the config node's id). */
  label?: string;
}

export type PushContent = { title: string; body: string; link: string };

/** `unknown`: the request went out and no answer came back; FCM may have delivered it, and takes no idempotency key. */
export type TokenVerdict = 'bad-token' | 'retry' | 'unknown' | 'failed';

const BAD_TOKEN_CODES = new Set(['messaging/registration-token-not-registered', 'messaging/invalid-registration-token']);
const TRANSIENT_CODES = new Set([
  'messaging/server-unavailable',
  'messaging/unavailable',
  'messaging/internal-error',
  'messaging/message-rate-exceeded',
  'messaging/device-message-rate-exceeded',
  'messaging/quota-exceeded',
]);

/** Network failures before a request could reach Google. */
const NOT_REACHED = /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH/;
/** Signing in failed for now; no message was sent yet, so any of these is safe to retry. */
const TOKEN_FETCH_TRANSIENT = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|socket hang up|aborted|timeout|status code (429|5\d\d)/i;

/** What one token's error means for it: gone for good, worth another try later, or a refusal of the message. */
export function classifyFcmError(err: unknown): TokenVerdict {
  const { code = '', message = '' } = (err ?? {}) as { code?: string; message?: string };
  if (BAD_TOKEN_CODES.has(code)) return 'bad-token';
  // INVALID_ARGUMENT is also FCM's answer to a malformed message: only a complaint about the token condemns it.
  if (code === 'messaging/invalid-argument' && /registration token/i.test(message)) return 'bad-token';
  if (TRANSIENT_CODES.has(code)) return 'retry';
  if (code === 'app/network-error') return NOT_REACHED.test(message) ? 'retry' : 'unknown';
  if (code === 'app/network-timeout') return 'unknown';
  // No access token because Google's token endpoint was not reached or failed itself: the account may be fine.
  if (code === 'app/invalid-credential' && TOKEN_FETCH_TRANSIENT.test(message)) return 'retry';
  // Responses the SDK could not map keep their HTTP status in the message.
  const status = Number(/Status code: (\d{3})/.exec(message)?.[1]);
  if (status === 429 || status >= 500) return 'retry';
  return 'failed';
}

export function fcmMessage(token: string, content: PushContent, deliveryId: string): Message {
  const notification = { ...(content.title ? { title: content.title } : {}), ...(content.body ? { body: content.body } : {}) };
  return {
    token,
    ...(Object.keys(notification).length > 0 ? { notification } : {}),
    // The link goes in data for the app to open; web push opens it itself (FCM wants HTTPS there).
    data: { deliveryId, ...(content.link ? { link: content.link } : {}) },
    ...(/^https:\/\//i.test(content.link) ? { webpush: { fcmOptions: { link: content.link } } } : {}),
  };
}

const errorOf = (err: unknown): DeliveryError => {
  const { code, message } = (err ?? {}) as { code?: string; message?: string };
  return { code: code ? `FCM_${code.replace(/^.*\//, '').replace(/-/g, '_').toUpperCase()}` : 'FCM_ERROR', message: message ?? String(err) };
};

/** The delivery's outcome from each token's response, in the order of `tokens`. */
export function fcmOutcome(tokens: string[], responses: SendResponse[]): ProviderResult & { badAddresses: string[] } {
  const results: NonNullable<Delivery['results']> = [];
  const bad: string[] = [];
  let transient: unknown = null;
  let unanswered: unknown = null;
  let refused: unknown = null;
  tokens.forEach((to, i) => {
    const response = responses[i];
    if (response?.success) {
      results.push({ to, ok: true, ...(response.messageId ? { id: response.messageId } : {}) });
      return;
    }
    const err = response?.error ?? new Error('no response for this token');
    results.push({ to, ok: false, error: (err as { code?: string }).code ?? err.message });
    const verdict = classifyFcmError(err);
    if (verdict === 'bad-token') bad.push(to);
    else if (verdict === 'retry') transient ??= err;
    else if (verdict === 'unknown') unanswered ??= err;
    else refused ??= err;
  });
  const first = results.find((r) => r.ok);
  // One token reached is the message sent: a retry would repeat it on that device.
  if (first) return { status: 'sent', providerMessageId: first.id ?? '', results, badAddresses: bad };
  // A retry would go to every token again, the unanswered one included.
  if (unanswered) return { status: 'unknown', error: errorOf(unanswered), badAddresses: bad };
  if (transient) return { status: 'retry', error: errorOf(transient), badAddresses: bad };
  if (refused) return { status: 'failed', error: errorOf(refused), badAddresses: bad };
  return {
    status: 'failed',
    reason: 'bad-address',
    error: { code: 'FCM_BAD_TOKENS', message: `FCM reports every token of the profile unregistered or invalid (${bad.length})` },
    badAddresses: bad,
  };
}

export function fcmProvider(account: FcmAccount): Provider & { close(): Promise<void> } {
  const agent = account.endpoint ? endpointAgent(account.endpoint) : undefined;
  const timeoutMs = timeoutMsOf(account);
  // cert() caches credentials by the key file's JSON for the process, with the agent of the first call:
  // naming the endpoint and timeout in the copy it gets keeps a changed setting from reusing the old client.
  const key: ServiceAccount & { journeysEndpoint?: string; journeysTimeoutMs: number } = {
    projectId: account.projectId,
    clientEmail: account.serviceAccount.client_email,
    privateKey: account.serviceAccount.private_key,
    ...(account.endpoint ? { journeysEndpoint: account.endpoint } : {}),
    journeysTimeoutMs: timeoutMs,
  };
  const credential = cert(key, agent);
  configureTokenRequests(credential, timeoutMs, agent);
  const app: App = initializeApp(
    { credential, projectId: account.projectId, ...(agent ? { httpAgent: agent } : {}) },
    `journeys-fcm:${account.label ?? ''}:${randomUUID()}`,
  );
  const messaging: Messaging = getMessaging(app);
  withoutSdkRetries(messaging);
  // HTTP/2 sessions do not go through an https.Agent: a redirected endpoint needs HTTP/1.1.
  if (agent) messaging.enableLegacyHttpTransport();
  let closed: Promise<void> | null = null;

  return {
    name: 'fcm',
    outbox: false,
    // The lease is reckoned from this: a send may take its sign-in step and its send step.
    timeoutMs: 2 * timeoutMs,
    retry: retryPolicyOf(account),
    close: () => (closed ??= deleteApp(app)),
    async send(delivery: Delivery): Promise<ProviderResult> {
      const content = delivery.content as PushContent;
      const batch = messaging.sendEach(delivery.to.map((token) => fcmMessage(token, content, delivery._id))).then(
        (answer): ProviderResult & { badAddresses?: string[] } => fcmOutcome(delivery.to, answer.responses),
        // The whole call failed (no project, the token endpoint down or slow...): no token was reached.
        (err: unknown): ProviderResult => (classifyFcmError(err) === 'retry' ? { status: 'retry', error: errorOf(err) } : { status: 'failed', error: errorOf(err) }),
      );
      // firebase-admin's own limit is 15 s per request, retried: past both steps' time, whatever went out has an unknown fate.
      const outcome = await withDeadline(batch, 2 * timeoutMs, (): ProviderResult => ({
        status: 'unknown',
        error: { code: 'FCM_TIMEOUT', message: `FCM did not answer within ${(2 * timeoutMs) / 1000} s` },
      }));
      if (outcome.status === 'retry') return { status: 'retry', error: outcome.error };
      return outcome;
    },
  };
}

/** What getMessaging() holds inside: the clients its sends go through, each with a retry config. */
interface MessagingInternals {
  messagingRequestHandler?: { httpClient?: { retry?: unknown }; http2Client?: { retry?: unknown } };
}

/**
 * firebase-admin sends a request again, by itself, when the connection is reset or times out
 * (and on a 503), up to four times (firebase-admin 13.10, utils/api-request.js
 * defaultRetryConfig). A reset after the request went out does not mean FCM did not take
 * it, so that resend could push the same message twice, and the outbox would count one
 * attempt. Retries are the outbox's alone: the SDK's are turned off, and an unanswered send
 * comes back as a network error, which the outbox settles as an unknown outcome. If the SDK
 * changes shape this refuses to make the provider rather than risk pushing twice.
 */
function withoutSdkRetries(messaging: Messaging): void {
  const handler = (messaging as unknown as MessagingInternals).messagingRequestHandler;
  const clients = [handler?.httpClient, handler?.http2Client];
  if (!clients.every((client) => client && 'retry' in client)) {
    throw new Error('this firebase-admin version does not let its own retries be turned off, and they could push a message twice');
  }
  for (const client of clients) client!.retry = undefined;
}

/** What cert() returns inside: a google-auth-library JWT client whose gaxios transporter makes the token request. */
interface CertInternals {
  getGoogleAuth?: () => unknown;
  authClient?: { transporter?: { defaults?: { agent?: unknown; timeout?: number } } };
}

/**
 * cert(key, agent) hands the agent to GoogleAuth's clientOptions, but builds the JWT client
 * from a key object with fromJSON(key) alone, which never reads them (firebase-admin 13.10,
 * credential-internal.js populateGoogleAuth): the token request would still go to Google.
 * The client's own transporter is given the agent instead; if the SDK changes shape this
 * says so rather than quietly sending the service account's assertion to Google.
 *
 * The token request has no timeout of its own, and google-auth-library shares one refresh
 * among all callers: one that hangs would hold every later send of the account. The
 * transporter gets the account's timeout too.
 */
function configureTokenRequests(credential: Credential, timeoutMs: number, agent?: Agent): void {
  const inside = credential as unknown as CertInternals;
  inside.getGoogleAuth?.();
  const defaults = inside.authClient?.transporter?.defaults;
  if (!defaults) {
    if (agent) throw new Error('this firebase-admin version does not let the API endpoint carry its token requests; leave the endpoint empty');
    return; // The send's own deadline still bounds the wait.
  }
  defaults.timeout = timeoutMs;
  if (agent) defaults.agent = agent;
}
