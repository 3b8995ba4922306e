/** Email through an SMTP server with nodemailer (a pooled transport per account). */
import { createHash } from 'node:crypto';
import nodemailer from 'nodemailer';
import type SMTPPool from 'nodemailer/lib/smtp-pool';
import type { Delivery } from '../delivery.js';
import type { Provider, ProviderResult } from '../outbox.js';
import { retryPolicyOf, timeoutMsOf, type RetrySettings } from '../retry.js';

/** `timeoutSeconds` is how long to wait for the server at each step (connect, greeting, every reply). */
export interface SmtpAccount extends RetrySettings {
  host: string;
  port: number;
  /** TLS from the start (port 465); otherwise STARTTLS when the server offers it. */
  secure: boolean;
  /** Refuse to send unless the connection is upgraded with STARTTLS. */
  requireTls?: boolean;
  /** Accept a server certificate that does not verify (self-signed test servers). */
  allowUnverifiedTls?: boolean;
  user?: string;
  password?: string;
  /** "Name <address>" or an address. */
  from: string;
  replyTo?: string;
  /** Connections kept open to the server at once (1 to MAX_SMTP_CONNECTIONS); sends beyond them wait their turn. */
  connections?: number;
}

/** Content fields a rendered email has. `listUnsubscribe` is the one-click URL, when there is one. */
export type EmailContent = { subject: string; html: string; text: string; listUnsubscribe?: string };

/** nodemailer's own default, which most servers accept from one client. */
export const DEFAULT_SMTP_CONNECTIONS = 5;
/** Past this a server is more likely to refuse the client than to deliver faster. */
export const MAX_SMTP_CONNECTIONS = 50;

/** Why `connections` is not a usable pool size, or null when it is (unset means the default). */
export function smtpConnectionsProblem(connections: number | undefined): string | null {
  if (connections === undefined) return null;
  return Number.isInteger(connections) && connections >= 1 && connections <= MAX_SMTP_CONNECTIONS
    ? null
    : `connections must be a whole number from 1 to ${MAX_SMTP_CONNECTIONS}, not ${connections}`;
}
/**
 * The idle-socket timer starts with the greeting's: were they equal, a server that never greets
 * could end the send as a socket timeout, which cannot tell "nothing sent" from "lost mid-message"
 * and so is never retried. A little longer, the setup's own timeout always comes first.
 */
const SOCKET_TIMEOUT_MARGIN_MS = 500;
/** nodemailer's timeouts of the setup (connect, greeting, STARTTLS): nothing of the message has left yet. */
const SETUP_TIMEOUTS = new Set(['CONNECT_TIMEOUT', 'GREETING_TIMEOUT', 'UPGRADE_TIMEOUT']);

/** What the outbox knows of an SMTP account's provider, wherever its sends run; refuses a pool size out of range. */
export function smtpProviderTraits(account: SmtpAccount): Pick<Provider, 'name' | 'outbox' | 'retry'> & { timeoutMs: number; concurrency: number } {
  const problem = smtpConnectionsProblem(account.connections);
  if (problem) throw new RangeError(problem);
  return { name: 'smtp', outbox: false, timeoutMs: timeoutMsOf(account), retry: retryPolicyOf(account), concurrency: account.connections ?? DEFAULT_SMTP_CONNECTIONS };
}

export function smtpProvider(account: SmtpAccount): Provider & { close(): void } {
  const traits = smtpProviderTraits(account);
  const { concurrency: connections, timeoutMs: timeout } = traits;
  const options: SMTPPool.Options = {
    pool: true,
    host: account.host,
    port: account.port,
    secure: account.secure,
    requireTLS: account.requireTls ?? false,
    ...(account.user ? { auth: { user: account.user, pass: account.password ?? '' } } : {}),
    tls: { rejectUnauthorized: !account.allowUnverifiedTls },
    connectionTimeout: timeout,
    greetingTimeout: timeout,
    socketTimeout: timeout + SOCKET_TIMEOUT_MARGIN_MS,
    maxConnections: connections,
  };
  const transport = nodemailer.createTransport(options);
  const domain = /@([^>\s]+)>?\s*$/.exec(account.from)?.[1] ?? 'journeys.invalid';
  return {
    ...traits,
    close: () => transport.close(),
    async send(delivery: Delivery): Promise<ProviderResult> {
      const content = delivery.content as EmailContent;
      // A Message-ID derived from the delivery: the same message has the same id wherever it is seen.
      const messageId = `<${createHash('sha256').update(delivery._id).digest('hex').slice(0, 32)}@${domain}>`;
      try {
        const info = await transport.sendMail({
          from: account.from,
          ...(account.replyTo ? { replyTo: account.replyTo } : {}),
          to: delivery.to,
          subject: content.subject,
          ...(content.html ? { html: content.html } : {}),
          ...(content.text ? { text: content.text } : {}),
          messageId,
          headers: {
            'X-Journeys-Delivery': delivery._id,
            ...(content.listUnsubscribe
              ? { 'List-Unsubscribe': `<${content.listUnsubscribe}>`, 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' }
              : {}),
          },
        });
        const rejected = (info.rejected ?? []).map(String);
        if (rejected.length > 0 && rejected.length >= delivery.to.length) {
          return { status: 'failed', reason: 'bounced', error: { code: 'SMTP_REJECTED', message: `the server refused ${rejected.join(', ')}: ${info.response}` }, badAddresses: rejected };
        }
        return { status: 'sent', providerMessageId: info.messageId ?? messageId };
      } catch (err) {
        return classify(err);
      }
    },
  };
}

/**
 * 4xx replies are transient; 5xx replies and bad credentials are not, and a 5xx to a
 * recipient (550 mailbox unknown...) is a hard bounce. Of the failures without a reply,
 * only those before the server could have taken anything (no connection, no greeting) are
 * safe to retry: a connection lost or silent later may have delivered the message, so it
 * is reported as unknown rather than risk sending it twice.
 */
export function classify(err: unknown): ProviderResult {
  const e = err as Error & { code?: string; responseCode?: number; command?: string; timeoutType?: string };
  const message = e.message ?? String(err);
  if (typeof e.responseCode === 'number') {
    const code = `SMTP_${e.responseCode}`;
    if (e.responseCode >= 400 && e.responseCode < 500) return { status: 'retry', error: { code, message } };
    if (e.code === 'EAUTH') return { status: 'failed', error: { code: 'SMTP_AUTH', message } };
    if (e.command === 'RCPT TO' || e.code === 'EENVELOPE') return { status: 'failed', reason: 'bounced', error: { code, message } };
    return { status: 'failed', error: { code, message } };
  }
  if (e.code === 'EAUTH') return { status: 'failed', error: { code: 'SMTP_AUTH', message } };
  if (e.code === 'ETLS' || e.code === 'EMESSAGE' || e.code === 'EENVELOPE') return { status: 'failed', error: { code: `SMTP_${e.code.slice(1)}`, message } };
  if (e.code === 'EDNS' || SETUP_TIMEOUTS.has(e.timeoutType ?? '') || /ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN/i.test(message)) {
    return { status: 'retry', error: { code: 'SMTP_UNAVAILABLE', message } };
  }
  return { status: 'unknown', error: { code: 'SMTP_CONNECTION_LOST', message } };
}
