/**
 * Google's side of a push, on 127.0.0.1: the OAuth 2.0 token endpoint a service account
 * signs in at (JWT bearer grant, RFC 7523) and FCM's HTTP v1 send method, answering as
 * they are documented. firebase-admin's own requests reach it through the account's API
 * endpoint setting; the Host header tells the two Google hosts apart.
 * https://developers.google.com/identity/protocols/oauth2/service-account#httprest
 * https://firebase.google.com/docs/reference/fcm/rest/v1/projects.messages/send
 * https://firebase.google.com/docs/reference/fcm/rest/v1/ErrorCode
 */
import { generateKeyPairSync, randomUUID, verify, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** `hang`: the send is read whole and never answered; `reset`: read whole, then the connection is reset. */
export type TokenAnswer = 'unregistered' | 'invalid' | 'unavailable' | 'rate-limited' | 'hang' | 'reset';

export interface AcceptedMessage {
  project: string;
  token: string;
  message: Record<string, unknown>;
}

const TOKEN_AUDIENCE = 'https://oauth2.googleapis.com/token';
const MESSAGING_SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';
const FCM_ERROR = 'type.googleapis.com/google.firebase.fcm.v1.FcmError';
const MESSAGE_KEYS = new Set(['token', 'topic', 'condition', 'name', 'data', 'notification', 'android', 'webpush', 'apns', 'fcm_options']);

export class TestFcmApi {
  readonly project = 'journeys-test';
  readonly clientEmail = `push-sender@${this.project}.iam.gserviceaccount.com`;
  private readonly publicKey: KeyObject;
  private readonly privateKeyPem: string;
  private server: Server | null = null;
  private readonly issued = new Set<string>();
  private readonly answers = new Map<string, TokenAnswer[]>();
  /** Messages FCM accepted, in order. */
  readonly accepted: AcceptedMessage[] = [];
  /** Every request: which Google host it was for, and its path (status 0: never answered). */
  readonly requests: Array<{ host: string; path: string; status: number }> = [];
  /** Access tokens handed out. */
  tokensIssued = 0;
  /** Token requests to read whole and never answer, before answering again. */
  hangTokenRequests = 0;

  constructor() {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.publicKey = publicKey;
    this.privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  }

  /** A service account key file as the Google Cloud console downloads it, for this server's key pair. */
  serviceAccount(): Record<string, string> {
    return {
      type: 'service_account',
      project_id: this.project,
      private_key_id: 'test-key-1',
      private_key: this.privateKeyPem,
      client_email: this.clientEmail,
      client_id: '100000000000000000001',
      auth_uri: 'https://accounts.google.com/o/oauth2/auth',
      token_uri: TOKEN_AUDIENCE,
      universe_domain: 'googleapis.com',
    };
  }

  get endpoint(): string {
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  /** The next answers FCM gives for `token`, one per request, before it accepts it again. */
  answer(token: string, ...answers: TokenAnswer[]): void {
    this.answers.set(token, [...(this.answers.get(token) ?? []), ...answers]);
  }

  reset(): void {
    this.hangTokenRequests = 0;
    this.answers.clear();
    this.accepted.length = 0;
    this.requests.length = 0;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const status = this.handle(req, Buffer.concat(chunks).toString('utf8'), res);
        this.requests.push({ host: String(req.headers.host), path: req.url ?? '', status });
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
    this.server = null;
  }

  private handle(req: IncomingMessage, body: string, res: ServerResponse): number {
    const host = String(req.headers.host ?? '').replace(/:\d+$/, '');
    if (host === 'oauth2.googleapis.com' && req.method === 'POST' && req.url === '/token') {
      if (this.hangTokenRequests > 0) {
        this.hangTokenRequests -= 1;
        return 0;
      }
      return this.token(req, body, res);
    }
    const send = /^\/v1\/projects\/([^/]+)\/messages:send$/.exec(req.url ?? '');
    if (host === 'fcm.googleapis.com' && req.method === 'POST' && send) return this.send(req, decodeURIComponent(send[1]!), body, res);
    return reply(res, 404, { error: { code: 404, message: `no ${req.method} ${host}${req.url} here`, status: 'NOT_FOUND' } });
  }

  private token(req: IncomingMessage, body: string, res: ServerResponse): number {
    const refuse = (description: string) => reply(res, 400, { error: 'invalid_grant', error_description: description });
    if (!String(req.headers['content-type']).startsWith('application/x-www-form-urlencoded')) return refuse('expected a form body');
    const form = new URLSearchParams(body);
    if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') return refuse('unsupported grant_type');
    const parts = (form.get('assertion') ?? '').split('.');
    if (parts.length !== 3) return refuse('the assertion is not a JWT');
    const [head, claims, signature] = parts as [string, string, string];
    const header = decode(head);
    if (header?.alg !== 'RS256') return refuse('the assertion must be signed with RS256');
    if (!verify('sha256', Buffer.from(`${head}.${claims}`), this.publicKey, Buffer.from(signature, 'base64url'))) return refuse('Invalid JWT Signature.');
    const claim = decode(claims);
    const now = Math.floor(Date.now() / 1000);
    if (!claim || claim.iss !== this.clientEmail) return refuse('unknown service account');
    if (claim.aud !== TOKEN_AUDIENCE) return refuse('wrong audience');
    if (typeof claim.exp !== 'number' || typeof claim.iat !== 'number' || claim.exp <= now || claim.exp - claim.iat > 3600) return refuse('Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.');
    if (!String(claim.scope ?? '').split(' ').includes(MESSAGING_SCOPE)) return refuse('the assertion does not ask for the firebase.messaging scope');
    const accessToken = `ya29.test-${randomUUID()}`;
    this.issued.add(accessToken);
    this.tokensIssued += 1;
    return reply(res, 200, { access_token: accessToken, expires_in: 3599, token_type: 'Bearer' });
  }

  private send(req: IncomingMessage, project: string, body: string, res: ServerResponse): number {
    const bearer = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ''))?.[1];
    if (!bearer || !this.issued.has(bearer)) {
      return reply(res, 401, { error: { code: 401, message: 'Request is missing required authentication credential.', status: 'UNAUTHENTICATED' } });
    }
    if (project !== this.project) return reply(res, 403, fcmError(403, 'SenderId mismatch', 'PERMISSION_DENIED', 'SENDER_ID_MISMATCH'));
    let message: Record<string, unknown>;
    try {
      message = (JSON.parse(body) as { message: Record<string, unknown> }).message;
    } catch {
      return reply(res, 400, fcmError(400, 'Invalid JSON payload received.', 'INVALID_ARGUMENT', 'INVALID_ARGUMENT'));
    }
    const problem = messageProblem(message);
    if (problem) return reply(res, 400, fcmError(400, problem, 'INVALID_ARGUMENT', 'INVALID_ARGUMENT'));
    const token = message.token as string;
    const answer = this.answers.get(token)?.shift();
    switch (answer) {
      case 'unregistered':
        this.answer(token, 'unregistered'); // a token stays unregistered
        return reply(res, 404, fcmError(404, 'Requested entity was not found.', 'NOT_FOUND', 'UNREGISTERED'));
      case 'invalid':
        this.answer(token, 'invalid');
        return reply(res, 400, fcmError(400, 'The registration token is not a valid FCM registration token', 'INVALID_ARGUMENT', 'INVALID_ARGUMENT'));
      case 'unavailable':
        // FCM's own answer when busy; the SDK's retries are off (lib/channels/push/fcm.ts), so it comes straight back.
        return reply(res, 503, fcmError(503, 'The service is currently unavailable.', 'UNAVAILABLE', 'UNAVAILABLE'), { 'Retry-After': '120' });
      case 'rate-limited':
        return reply(res, 429, fcmError(429, 'Quota exceeded for quota metric.', 'RESOURCE_EXHAUSTED', 'QUOTA_EXCEEDED'));
      case 'hang':
        return 0;
      case 'reset':
        // Taken, for all the sender can tell: the request arrived whole before the connection went.
        this.accepted.push({ project, token, message });
        res.socket?.resetAndDestroy();
        return 0;
      default: {
        this.accepted.push({ project, token, message });
        return reply(res, 200, { name: `projects/${project}/messages/${randomUUID()}` });
      }
    }
  }
}

/** Why FCM would refuse this message, or null: the v1 Message resource's shape. */
function messageProblem(message: unknown): string | null {
  if (typeof message !== 'object' || message === null) return 'message is required';
  const m = message as Record<string, unknown>;
  for (const key of Object.keys(m)) if (!MESSAGE_KEYS.has(key)) return `Invalid JSON payload received. Unknown name "${key}" at 'message'`;
  if (typeof m.token !== 'string' || m.token === '') return 'The registration token is not a valid FCM registration token';
  if (m.data !== undefined) {
    if (typeof m.data !== 'object' || m.data === null) return 'data must be a map';
    for (const v of Object.values(m.data)) if (typeof v !== 'string') return 'data values must be strings';
  }
  if (m.notification !== undefined) {
    const n = m.notification as Record<string, unknown>;
    for (const [k, v] of Object.entries(n)) if (!['title', 'body', 'image'].includes(k) || typeof v !== 'string') return `Invalid value at 'message.notification.${k}'`;
  }
  // Proto3 JSON: a field may be written in lowerCamelCase (the SDK's way) or with its proto name.
  const webpush = m.webpush as { fcm_options?: { link?: unknown }; fcmOptions?: { link?: unknown } } | undefined;
  const link = (webpush?.fcm_options ?? webpush?.fcmOptions)?.link;
  if (link !== undefined && (typeof link !== 'string' || !link.startsWith('https://'))) return 'webpush.fcm_options.link must be an HTTPS URL';
  return null;
}

function fcmError(code: number, message: string, status: string, errorCode: string) {
  return { error: { code, message, status, details: [{ '@type': FCM_ERROR, errorCode }] } };
}

function decode(part: string): Record<string, unknown> | null {
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
}

function reply(res: ServerResponse, status: number, body: object, headers: Record<string, string> = {}): number {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=UTF-8', ...headers }).end(JSON.stringify(body));
  return status;
}
