/**
 * A real SMTP server in the test process (the smtp-server package): it takes what
 * nodemailer sends over a TCP socket on 127.0.0.1 and keeps each message, parsed. It can
 * be told to refuse (4xx or 5xx) the next messages, or to stall, to test retries, timeouts
 * and failures; or hand each message, unparsed, to a caller timing deliveries.
 */
import type { AddressInfo } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface Received {
  from: string;
  to: string[];
  mail: ParsedMail;
  raw: string;
}

/** A message as it arrived, unparsed, with when it arrived (ms since the epoch). */
export interface RawReceived {
  to: string[];
  raw: string;
  at: number;
}

export class TestSmtpServer {
  readonly received: Received[] = [];
  /** SMTP reply codes to answer the next messages' DATA with, in order (e.g. 451, 550). */
  readonly refuseNext: number[] = [];
  /** Recipients refused at RCPT TO with 550, as a server refuses a mailbox that does not exist. */
  readonly unknownMailboxes = new Set<string>();
  /** Takes this many next messages whole but never answers them: the sender cannot know they arrived. */
  stallNext = 0;
  /** Accepts this many next connections and never greets them: nothing can have been sent on them. */
  stallGreetings = 0;
  /** The most connections open at once so far. */
  peakConnections = 0;
  private openConnections = 0;
  /** Connections that failed (a sender that died mid-message resets its connection). */
  readonly connectionErrors: Error[] = [];
  private server: SMTPServer | null = null;
  port = 0;

  /**
   * With `onRaw`, each message goes to it as it arrived instead of being parsed and kept:
   * a soak receives more mail than it could hold parsed.
   */
  constructor(private readonly onRaw?: (message: RawReceived) => void) {}

  /** Listens on `port` when given (a restarted test server keeps its address). */
  async start(port = 0): Promise<this> {
    this.server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onConnect: (_session, callback) => {
        this.openConnections += 1;
        this.peakConnections = Math.max(this.peakConnections, this.openConnections);
        if (this.stallGreetings > 0) {
          this.stallGreetings -= 1;
          return;
        }
        callback();
      },
      onClose: () => {
        this.openConnections -= 1;
      },
      onRcptTo: (address, _session, callback) => {
        if (this.unknownMailboxes.has(address.address)) return callback(Object.assign(new Error('5.1.1 mailbox unknown'), { responseCode: 550 }));
        callback();
      },
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => {
          const refusal = this.refuseNext.shift();
          if (refusal) return callback(Object.assign(new Error(`refused by the test (${refusal})`), { responseCode: refusal }));
          const raw = Buffer.concat(chunks).toString('utf8');
          const stall = this.stallNext > 0;
          if (stall) this.stallNext -= 1;
          if (this.onRaw) {
            this.onRaw({ to: session.envelope.rcptTo.map((r) => r.address), raw, at: Date.now() });
            if (!stall) callback();
            return;
          }
          void simpleParser(raw).then(
            (mail) => {
              this.received.push({
                from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
                to: session.envelope.rcptTo.map((r) => r.address),
                mail,
                raw,
              });
              if (!stall) callback();
            },
            (err: Error) => callback(err),
          );
        });
      },
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, '127.0.0.1', () => {
        this.server!.off('error', reject);
        resolve();
      });
    });
    // A sender killed mid-message resets its connection, and the server reports that as an
    // 'error' event: unheard, it would crash the test process. Kept for a test to look at.
    this.server.on('error', (err: Error) => this.connectionErrors.push(err));
    this.port = ((this.server as unknown as { server: { address(): AddressInfo } }).server.address()).port;
    return this;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = null;
  }
}
