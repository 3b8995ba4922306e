/**
 * Twilio's Messages API as the SDK calls it, on 127.0.0.1: POST
 * /2010-04-01/Accounts/{AccountSid}/Messages.json with HTTP Basic auth (SID:token), a
 * form-encoded To, From or MessagingServiceSid, and Body. It answers as Twilio documents
 * (201 with a message resource; 400/401/404 with Twilio's JSON error body) and can be told
 * to refuse the next requests, or to take them and never answer, to test retries, timeouts
 * and failures. Accepted messages are kept, with the StatusCallback they named, and
 * `reportStatus` calls that back as Twilio does: a signed form POST.
 */
import { randomBytes } from 'node:crypto';
import twilio from 'twilio';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface AcceptedMessage {
  sid: string;
  accountSid: string;
  to: string;
  from: string | null;
  messagingServiceSid: string | null;
  body: string;
  /** The StatusCallback URL the request named, or null. */
  statusCallback: string | null;
  /** When the message was accepted (ms since the epoch). */
  receivedAt: number;
}

/**
 * A refusal for the next request: 429 (with Retry-After seconds), 500, a 400 with a Twilio
 * error code, or `hang`: the request is read whole and never answered.
 */
export type Refusal = { status: 429; retryAfter?: number } | { status: 500 } | { status: 400; code: number; message?: string } | { status: 'hang' };

const MESSAGES = /^\/2010-04-01\/Accounts\/(AC[0-9a-f]{32})\/Messages\.json$/;
const E164 = /^\+[1-9]\d{1,14}$/;
const MAX_BODY_CHARS = 1600;

export class TwilioApiServer {
  readonly accepted: AcceptedMessage[] = [];
  readonly refuseNext: Refusal[] = [];
  /** Every request that reached the Messages endpoint, accepted or not. */
  requests = 0;
  private server: Server | null = null;
  port = 0;

  constructor(
    readonly accountSid: string,
    readonly authToken: string,
  ) {}

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  reset(): void {
    this.accepted.length = 0;
    this.refuseNext.length = 0;
    this.requests = 0;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const match = MESSAGES.exec(url.pathname);
    if (!match || req.method !== 'POST') return error(res, 404, 20404, 'The requested resource was not found');
    this.requests += 1;
    const [user, pass] = basicAuth(req.headers.authorization);
    if (user !== this.accountSid || pass !== this.authToken) return error(res, 401, 20003, 'Authentication Error - invalid username');
    if (match[1] !== this.accountSid) return error(res, 404, 20404, 'The requested resource was not found');
    if (!String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) return error(res, 400, 21100, 'Content-Type must be application/x-www-form-urlencoded');
    const form = new URLSearchParams(await readBody(req));

    const refusal = this.refuseNext.shift();
    if (refusal?.status === 'hang') return;
    if (refusal?.status === 429) {
      res.setHeader('Retry-After', String(refusal.retryAfter ?? 1));
      return error(res, 429, 20429, 'Too Many Requests');
    }
    if (refusal?.status === 500) return error(res, 500, 20500, 'Internal Server Error');
    if (refusal?.status === 400) return error(res, 400, refusal.code, refusal.message ?? `refused by the test (${refusal.code})`);

    const to = form.get('To');
    const from = form.get('From');
    const service = form.get('MessagingServiceSid');
    const body = form.get('Body');
    if (!to) return error(res, 400, 21604, "A 'To' phone number is required.");
    if (!from && !service) return error(res, 400, 21603, "A 'From' phone number is required.");
    if (!body) return error(res, 400, 21602, 'Message body is required.');
    if (body.length > MAX_BODY_CHARS) return error(res, 400, 21617, 'The concatenated message body exceeds the 1600 character limit.');
    if (!E164.test(to)) return error(res, 400, 21211, `The 'To' number ${to} is not a valid phone number.`);
    if (from && !E164.test(from)) return error(res, 400, 21212, `The 'From' number ${from} is not a valid phone number, shortcode, or alphanumeric sender ID.`);
    if (service && !/^MG[0-9a-f]{32}$/.test(service)) return error(res, 400, 21701, 'The Messaging Service Sid is invalid.');

    const sid = `SM${randomBytes(16).toString('hex')}`;
    this.accepted.push({ sid, accountSid: this.accountSid, to, from, messagingServiceSid: service, body, statusCallback: form.get('StatusCallback'), receivedAt: Date.now() });
    const now = new Date().toUTCString();
    res.writeHead(201, { 'Content-Type': 'application/json' }).end(
      JSON.stringify({
        account_sid: this.accountSid,
        api_version: '2010-04-01',
        body,
        date_created: now,
        date_sent: null,
        date_updated: now,
        direction: 'outbound-api',
        error_code: null,
        error_message: null,
        from: from ?? null,
        messaging_service_sid: service ?? null,
        num_media: '0',
        num_segments: String(Math.ceil(body.length / 153) || 1),
        price: null,
        price_unit: 'USD',
        sid,
        status: service ? 'accepted' : 'queued',
        subresource_uris: { media: `/2010-04-01/Accounts/${this.accountSid}/Messages/${sid}/Media.json` },
        to,
        uri: `/2010-04-01/Accounts/${this.accountSid}/Messages/${sid}.json`,
      }),
    );
  }

  /** The fields of Twilio's status callback for an accepted message. */
  statusFields(message: AcceptedMessage, status: string, errorCode?: string): Record<string, string> {
    return {
      AccountSid: this.accountSid,
      ApiVersion: '2010-04-01',
      From: message.from ?? '',
      ...(message.messagingServiceSid ? { MessagingServiceSid: message.messagingServiceSid } : {}),
      MessageSid: message.sid,
      MessageStatus: status,
      SmsSid: message.sid,
      SmsStatus: status,
      To: message.to,
      ...(errorCode ? { ErrorCode: errorCode } : {}),
    };
  }

  /** Calls the message's StatusCallback as Twilio does, signed with `authToken` (the account's unless told); resolves with the answer. */
  async reportStatus(message: AcceptedMessage, status: string, options: { errorCode?: string; authToken?: string } = {}): Promise<Response> {
    if (!message.statusCallback) throw new Error(`message ${message.sid} named no StatusCallback`);
    const fields = this.statusFields(message, status, options.errorCode);
    const signature = twilio.getExpectedTwilioSignature(options.authToken ?? this.authToken, message.statusCallback, fields);
    return fetch(message.statusCallback, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
      body: new URLSearchParams(fields).toString(),
    });
  }
}

function basicAuth(header: string | undefined): [string, string] {
  const match = /^Basic (.+)$/.exec(header ?? '');
  if (!match) return ['', ''];
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const at = decoded.indexOf(':');
  return at < 0 ? [decoded, ''] : [decoded.slice(0, at), decoded.slice(at + 1)];
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Twilio's error body: code, message, more_info, status. */
function error(res: ServerResponse, status: number, code: number, message: string): void {
  res
    .writeHead(status, { 'Content-Type': 'application/json' })
    .end(JSON.stringify({ code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status }));
}

/** A random account SID and auth token, shaped as Twilio's. */
export function testAccount(): { accountSid: string; authToken: string } {
  return { accountSid: `AC${randomBytes(16).toString('hex')}`, authToken: randomBytes(16).toString('hex') };
}

/** A Twilio API for the enclosing mocha block: a fresh account, started before its tests, emptied before each, stopped after. */
export function useTwilioApi(): { api: TwilioApiServer; account: { accountSid: string; authToken: string } } {
  const account = testAccount();
  const api = new TwilioApiServer(account.accountSid, account.authToken);
  before(() => api.start());
  after(() => api.stop());
  beforeEach(() => api.reset());
  return { api, account };
}
