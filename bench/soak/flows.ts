/**
 * The example flows a soak runs, as a user would wire them for production: one journey
 * store for all of them (one database, one Agenda), an SMTP account on every email sender,
 * a Twilio account on the SMS sender, the Order webhook's secret set. Their waits last hours
 * or days; the soak shortens each to seconds so that what comes after a wait also happens
 * within the run, and says which.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FlowNode } from '../../test/support/node-red.js';

export const SOAK_EXAMPLES = ['Capture events into profiles', 'Welcome series', 'Order webhook', 'Abandoned cart', 'A-B test of an offer'] as const;

export type StoreWiring = { backend: 'mongodb'; uri: string; database: string } | { backend: 'embedded' };

export interface SoakWiring {
  store: StoreWiring;
  smtpPort: number;
  twilio: { accountSid: string; authToken: string; baseUrl: string; from: string };
  webhookSecret: string;
  waitSeconds: number;
}

export interface SoakFlows {
  flows: FlowNode[];
  /** One line per shortened wait: node, what it was, what it is now. */
  shortened: string[];
}

const STORE_ID = 'soak-store';
const SMTP_ID = 'soak-smtp';
const TWILIO_ID = 'soak-twilio';

export function soakFlows(examplesDir: string, wiring: SoakWiring): SoakFlows {
  const shortened: string[] = [];
  const flows: FlowNode[] = [storeNode(wiring.store), ...accountNodes(wiring)];
  for (const example of SOAK_EXAMPLES) {
    const nodes = JSON.parse(readFileSync(join(examplesDir, `${example}.json`), 'utf8')) as FlowNode[];
    for (const node of nodes) {
      if (node.type === 'journey-store') continue;
      const rewired: FlowNode = { ...node, ...('store' in node ? { store: STORE_ID } : {}) };
      if (node.type === 'send-email') rewired.account = SMTP_ID;
      if (node.type === 'send-sms') rewired.account = TWILIO_ID;
      if (node.type === 'event-in' && node.webhook) rewired.credentials = { secret: wiring.webhookSecret };
      if (node.type === 'wait') shortened.push(shortenWait(rewired, wiring.waitSeconds, example));
      flows.push(rewired);
    }
  }
  return { flows, shortened };
}

function storeNode(store: StoreWiring): FlowNode {
  const base = { id: STORE_ID, type: 'journey-store', name: 'soak', directory: 'journeys-store', publicUrl: '' };
  return store.backend === 'mongodb' ? { ...base, backend: 'mongodb', database: store.database, credentials: { uri: store.uri } } : { ...base, backend: 'embedded', database: 'journeys' };
}

function accountNodes(wiring: SoakWiring): FlowNode[] {
  return [
    { id: SMTP_ID, type: 'email-account', name: 'soak smtp', host: '127.0.0.1', port: wiring.smtpPort, tls: 'starttls', from: 'Shop <news@example.com>', timeout: 30 },
    {
      id: TWILIO_ID,
      type: 'twilio-account',
      name: 'soak twilio',
      accountSid: wiring.twilio.accountSid,
      from: wiring.twilio.from,
      baseUrl: wiring.twilio.baseUrl,
      store: STORE_ID,
      credentials: { authToken: wiring.twilio.authToken },
    },
  ];
}

/** Sets the wait's length (or, waiting for an event, its timeout) to `seconds`; describes the change. */
function shortenWait(node: FlowNode, seconds: number, example: string): string {
  const label = `${example} / ${String(node.name || node.id)}`;
  if (node.mode === 'event') {
    const was = `${String(node.timeout)} ${String(node.timeoutUnit)}`;
    Object.assign(node, { timeout: seconds, timeoutUnit: 'seconds' });
    return `${label}: waits for ${String(node.event)} at most ${was} → ${seconds} s`;
  }
  if (node.mode !== 'duration') throw new Error(`${label}: a ${String(node.mode)} wait cannot be shortened by the soak`);
  const was = `${String(node.amount)} ${String(node.unit)}`;
  Object.assign(node, { amount: seconds, unit: 'seconds' });
  return `${label}: ${was} → ${seconds} s`;
}
