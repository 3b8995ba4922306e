/**
 * email-account (config): an SMTP server to send through. The user name and password are
 * credentials, never in the flow file. It owns one pooled nodemailer transport, on a thread
 * of its own, for all the send-email nodes that use it, closed when it is.
 */
import { isEmailAddress, smtpConnectionsProblem, smtpThreadProvider, type Provider, type SmtpAccount } from '../../lib/index.js';
import { accountRetry, numberOrNone, type AccountRetryDef } from '../shared/account-retry.js';
import type { AccountNode } from '../shared/sender.js';
import { registerNode, type NodeAPI, type NodeDef } from '../shared/red.js';

interface EmailAccountDef extends NodeDef, AccountRetryDef {
  host?: string;
  port?: number | string;
  tls?: 'starttls' | 'tls' | 'require-starttls';
  allowUnverified?: boolean;
  from?: string;
  replyTo?: string;
  connections?: number | string;
}

interface Credentials {
  user?: string;
  password?: string;
}

export = function (RED: NodeAPI): void {
  function EmailAccountNode(this: AccountNode, def: EmailAccountDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const credentials = (node.credentials ?? {}) as Credentials;
    let made: (Provider & { close(): void }) | null = null;

    node.provider = () => {
      const host = def.host?.trim();
      const port = Number(def.port ?? 587);
      const from = def.from?.trim() ?? '';
      if (!host) return new Error(RED._('email-account.errors.no-host'));
      if (!Number.isInteger(port) || port < 1 || port > 65535) return new Error(RED._('email-account.errors.bad-port'));
      const address = /<([^>]+)>\s*$/.exec(from)?.[1] ?? from;
      if (!isEmailAddress(address)) return new Error(RED._('email-account.errors.bad-from'));
      const connections = numberOrNone(def.connections);
      const tooMany = smtpConnectionsProblem(connections);
      if (tooMany) return new Error(RED._('email-account.errors.bad-connections', { reason: tooMany }));
      const retry = accountRetry(def);
      if (!retry.ok) return new Error(RED._('journeys.account.errors.bad-settings', { reason: retry.problem }));
      const account: SmtpAccount = {
        host,
        port,
        secure: def.tls === 'tls',
        requireTls: def.tls === 'require-starttls',
        allowUnverifiedTls: def.allowUnverified === true,
        from,
        ...(def.replyTo?.trim() ? { replyTo: def.replyTo.trim() } : {}),
        ...(connections !== undefined ? { connections } : {}),
        ...(credentials.user ? { user: credentials.user, password: credentials.password ?? '' } : {}),
        ...retry.settings,
      };
      made ??= smtpThreadProvider(account);
      return made;
    };

    node.on('close', () => {
      made?.close();
      made = null;
    });
  }

  registerNode(RED, 'email-account', EmailAccountNode, {
    credentials: { user: { type: 'text' }, password: { type: 'password' } },
  });
};
