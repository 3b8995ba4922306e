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
import { endpointAgent } from './endpoint.js';
import type { ServiceAccountJson } from './service-account.js';

export interface FcmAccount {
  serviceAccount: ServiceAccountJson;
  projectId: string;
  /** Where Google's API requests go instead (a proxy, a test double); empty: Google. */
  endpoint?: string;
  /** Part of the firebase app's name, to recognise it (the config node's id). */
  label?: string;
}

export type PushContent = { title: string; body: string; link: string };

export type TokenVerdict = 'bad-token' | 'retry' | 'failed';

const BAD_TOKEN_CODES = new Set(['messaging/registration-token-not-registered', 'messaging/invalid-registration-token']);
const TRANSIENT_CODES = new Set([
  'messaging/server-unavailable',
  'messaging/unavailable',
  'messaging/internal-error',
  'messaging/message-rate-exceeded',
  'messaging/device-message-rate-exceeded',
  'messaging/quota-exceeded',
  'app/network-error',
  'app/network-timeout',
]);

const TOKEN_FETCH_TRANSIENT = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|socket hang up|status code (429|5\d\d)/i;

/** What one token's error means for it: gone for good, worth another try later, or a refusal of the message. */
export function classifyFcmError(err: unknown): TokenVerdict {
  const { code = '', message = '' } = (err ?? {}) as { code?: string; message?: string };
  if (BAD_TOKEN_CODES.has(code)) return 'bad-token';
  // INVALID_ARGUMENT is also FCM's answer to a malformed message: only a complaint about the token condemns it.
  if (code === 'messaging/invalid-argument' && /registration token/i.test(message)) return 'bad-token';
  if (TRANSIENT_CODES.has(code)) return 'retry';
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
    else refused ??= err;
  });
  const first = results.find((r) => r.ok);
  // One token reached is the message sent: a retry would repeat it on that device.
  if (first) return { status: 'sent', providerMessageId: first.id ?? '', results, badAddresses: bad };
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
  // cert() caches credentials by the key file's JSON for the process, with the agent of the first call:
  // naming the endpoint in the copy it gets keeps a changed endpoint from reusing the old agent.
  const key: ServiceAccount & { journeysEndpoint?: string } = {
    projectId: account.projectId,
    clientEmail: account.serviceAccount.client_email,
    privateKey: account.serviceAccount.private_key,
    ...(account.endpoint ? { journeysEndpoint: account.endpoint } : {}),
  };
  const credential = cert(key, agent);
  if (agent) routeTokenRequests(credential, agent);
  const app: App = initializeApp(
    { credential, projectId: account.projectId, ...(agent ? { httpAgent: agent } : {}) },
    `journeys-fcm:${account.label ?? ''}:${randomUUID()}`,
  );
  const messaging: Messaging = getMessaging(app);
  // HTTP/2 sessions do not go through an https.Agent: a redirected endpoint needs HTTP/1.1.
  if (agent) messaging.enableLegacyHttpTransport();
  let closed: Promise<void> | null = null;

  return {
    name: 'fcm',
    outbox: false,
    close: () => (closed ??= deleteApp(app)),
    async send(delivery: Delivery): Promise<ProviderResult> {
      const content = delivery.content as PushContent;
      let outcome: ProviderResult & { badAddresses?: string[] };
      try {
        const batch = await messaging.sendEach(delivery.to.map((token) => fcmMessage(token, content, delivery._id)));
        outcome = fcmOutcome(delivery.to, batch.responses);
      } catch (err) {
        // The whole call failed (no project, the token endpoint down...): no token was reached.
        const verdict = classifyFcmError(err);
        outcome = verdict === 'retry' ? { status: 'retry', error: errorOf(err) } : { status: 'failed', error: errorOf(err) };
      }
      if (outcome.status === 'retry') return { status: 'retry', error: outcome.error };
      return outcome;
    },
  };
}

/** What cert() returns inside: a google-auth-library JWT client whose gaxios transporter makes the token request. */
interface CertInternals {
  getGoogleAuth?: () => unknown;
  authClient?: { transporter?: { defaults?: { agent?: unknown } } };
}

/**
 * cert(key, agent) hands the agent to GoogleAuth's clientOptions, but builds the JWT client
 * from a key object with fromJSON(key) alone, which never reads them (firebase-admin 13.10,
 * credential-internal.js populateGoogleAuth): the token request would still go to Google.
 * The client's own transporter is given the agent instead; if the SDK changes shape this
 * says so rather than quietly sending the service account's assertion to Google.
 */
function routeTokenRequests(credential: Credential, agent: Agent): void {
  const inside = credential as unknown as CertInternals;
  inside.getGoogleAuth?.();
  const defaults = inside.authClient?.transporter?.defaults;
  if (!defaults) throw new Error('this firebase-admin version does not let the API endpoint carry its token requests; leave the endpoint empty');
  defaults.agent = agent;
}
