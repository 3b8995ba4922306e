/**
 * Sends: emails rendered from nunjucks templates and delivered through the outbox to a
 * local SMTP server (the smtp-server package, in this process), beside nodemailer sending
 * the same number of pre-rendered emails straight to the same server with the same pool:
 * the ceiling. Both arms keep the same number of sends in flight.
 */
import nodemailer from 'nodemailer';
import {
  channelTemplates,
  COLLECTIONS,
  DEFAULT_SMTP_CONNECTIONS,
  emailChannel,
  send,
  signingKey,
  smtpProvider,
  type Profile,
  type Store,
} from '../lib/index.js';
import { TestSmtpServer } from '../test/support/smtp.js';
import { profileDoc } from '../test/support/stores.js';
import { closedLoop, peakRss, percentile } from './measure.js';

export interface SendArm {
  arm: string;
  sent: number;
  perSecond: number;
  p50: number;
  p99: number;
  peakRssMiB: number;
}

const IN_FLIGHT = 20;
/** The welcome email both send benchmarks render. */
export const SUBJECT = 'Welcome, {{ profile.traits.firstName }}';
export const HTML = '<p>Hello {{ profile.traits.firstName }}, your plan is {{ profile.traits.plan }}.</p><p><a href="https://shop.example.com/start">Start</a></p><p><a href="{{ unsubscribeUrl }}">Unsubscribe</a></p>';
export const TEXT = 'Hello {{ profile.traits.firstName }}';

function arm(name: string, sent: number, seconds: number, latencies: number[], rss: number): SendArm {
  const sorted = [...latencies].sort((a, b) => a - b);
  return { arm: name, sent, perSecond: sent / seconds, p50: percentile(sorted, 50), p99: percentile(sorted, 99), peakRssMiB: rss };
}

export async function benchSends(options: { count: number; store: Store }): Promise<SendArm[]> {
  const { count, store } = options;
  const smtp = await new TestSmtpServer().start();
  try {
    await store
      .collection<Profile>(COLLECTIONS.profiles)
      .insertMany(
        Array.from({ length: count }, (_, i) =>
          profileDoc(`s-${i}`, { traits: { firstName: `Person ${i}`, plan: 'pro', email: `p${i}@example.com` }, consent: { email: { status: 'granted', at: new Date() } } }),
        ),
      );

    // Raw: nodemailer, one pooled transport, the same mail already rendered.
    const transport = nodemailer.createTransport({ pool: true, host: '127.0.0.1', port: smtp.port, secure: false, maxConnections: DEFAULT_SMTP_CONNECTIONS, tls: { rejectUnauthorized: false } });
    let rss = peakRss();
    let started = performance.now();
    const { latencies: rawLatencies } = await closedLoop(count, IN_FLIGHT, async (i) => {
      await transport.sendMail({ from: 'Shop <news@example.com>', to: `p${i}@example.com`, subject: 'Welcome, Person', html: '<p>Hello Person</p>', text: 'Hello Person' });
    });
    const raw = arm('nodemailer, pre-rendered', count, (performance.now() - started) / 1000, rawLatencies, rss.stop());
    transport.close();

    // Journeys: the send-email path in lib/ (key, profile, consent, render, tracked links, outbox record, SMTP).
    const provider = smtpProvider({ host: '127.0.0.1', port: smtp.port, secure: false, from: 'Shop <news@example.com>' });
    const key = await signingKey(store);
    const spec = emailChannel({ opens: true, clicks: true, unsubscribe: true }, async () => ({ baseUrl: 'http://localhost:1880', storeId: 'bench', key }));
    const templates = channelTemplates('email', { subject: SUBJECT, html: HTML, text: TEXT });
    const before = smtp.received.length;
    rss = peakRss();
    started = performance.now();
    const { latencies } = await closedLoop(count, IN_FLIGHT, async (i) => {
      const outcome = await send(store, {
        spec,
        node: 'bench-send',
        provider,
        templates,
        policy: { consent: 'opt-in' },
        profileId: `s-${i}`,
        instanceId: `instance-${i}`,
        journey: 'bench',
        variant: null,
        msgId: `m-${i}`,
        scope: { event: { name: 'signed_up' }, journey: { name: 'bench' }, msg: {} },
        now: new Date(),
      });
      if (outcome.kind !== 'done' || outcome.delivery.status !== 'sent') throw new Error(`send ${i} did not go out: ${JSON.stringify(outcome)}`);
    });
    const journeys = arm('send-email (render, record, send)', smtp.received.length - before, (performance.now() - started) / 1000, latencies, rss.stop());
    provider.close();
    return [raw, journeys];
  } finally {
    await smtp.stop();
  }
}
