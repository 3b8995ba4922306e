/** A delivery: one message to one profile on one channel, and what became of it. */
import type { Doc } from '../store/port.js';

export const CHANNELS = ['email', 'sms', 'push'] as const;
export type ChannelName = (typeof CHANNELS)[number];

/**
 * queued: rendered, waiting for its (next) attempt at `dueAt`.
 * sending: handed to the provider under a lease; if the lease runs out the outcome is unknown.
 * sent / failed / skipped: final.
 */
export type DeliveryStatus = 'queued' | 'sending' | 'sent' | 'failed' | 'skipped';

/** Why a delivery was not sent: one code a flow can switch on (msg.delivery.reason). */
export type NotSentReason =
  | 'duplicate'
  | 'no-profile'
  | 'no-address'
  | 'bad-address'
  | 'no-consent'
  | 'unsubscribed'
  | 'bounced'
  | 'stop'
  | 'consent-denied'
  | 'frequency-cap'
  | 'quiet-hours'
  | 'template-error'
  | 'journey-ended'
  | 'provider-rejected'
  | 'provider-unavailable'
  | 'unknown-outcome';

/** A provider's final word on whether a sent message reached the recipient. */
export type ReceiptStatus = 'delivered' | 'undelivered' | 'failed' | 'read';

export interface DeliveryReceipt {
  status: ReceiptStatus;
  /** When the report arrived. */
  at: Date;
  /** The provider's error code for a message that did not arrive (Twilio's 30003, 21610...). */
  errorCode?: string;
}

export interface DeliveryError {
  code: string;
  message: string;
}

export interface Delivery extends Doc {
  channel: ChannelName;
  /** The sending node. */
  node: string;
  journey: string | null;
  instanceId: string | null;
  profileId: string;
  /** The split variant the instance took last, for comparing branches. */
  variant: string | null;
  /** Addresses: email addresses, an E.164 number, push tokens. */
  to: string[];
  /** Rendered fields (subject/html/text, body, title...). */
  content: Record<string, string>;
  status: DeliveryStatus;
  reason?: NotSentReason;
  /** Human detail of the reason or error. */
  detail?: string;
  error?: DeliveryError;
  /** Rendered and recorded but not handed to any provider (dry-run / outbox mode). */
  outbox: boolean;
  provider: string;
  attempts: number;
  dueAt: Date;
  leaseUntil?: Date;
  /**
   * A mark each claim and outcome writes with it: a writer whose shared write's batch partly
   * missed reads the delivery back and knows by this mark whether the change is its own.
   */
  changeId?: string;
  providerMessageId?: string;
  /**
   * What the handset end reported later (an SMS status callback), apart from `status`, which
   * only says the provider took the message: a message Twilio accepted can still fail to arrive.
   */
  receipt?: DeliveryReceipt;
  /** When the provider reported the message on the handset. */
  deliveredAt?: Date;
  /** Addresses the provider reported dead (unregistered push tokens, refused mailboxes). */
  badAddresses?: string[];
  /** Per-address outcome where a provider gives one (push tokens). */
  results?: Array<{ to: string; ok: boolean; id?: string; error?: string }>;
  /** When the frequency cap slot was taken, to give it back if nothing is sent. */
  capReservedAt?: Date;
  opens: number;
  clicks: number;
  firstOpenAt?: Date;
  lastClickAt?: Date;
  /** When a goal converted the journey instance within the attribution window after this was sent. */
  convertedAt?: Date;
  createdAt: Date;
  updatedAt: Date;
  sentAt?: Date;
}

/**
 * The delivery's key: one journey instance gets one message per sending node and pass,
 * whatever retries, redeploys or restarts happen. Outside a journey the msg id stands in
 * for the instance, so a retried msg is still sent once.
 *
 * `pass` counts the times this msg went through the node before (a flow that loops back to
 * it): each loop is a message of its own, while a retry or a replay of one pass arrives with
 * the same count and finds the first. The first pass keeps the key it always had, so
 * deliveries recorded before passes were counted are still found.
 */
export function deliveryKey(channel: ChannelName, node: string, instanceId: string | null, msgId: string, pass = 0): string {
  const key = instanceId ? `${channel}:${node}:${instanceId}` : `${channel}:${node}:msg:${msgId}`;
  return pass > 0 ? `${key}:pass${pass}` : key;
}

/** What a sender hands on to the flow as msg.delivery. */
export interface DeliverySummary {
  id: string;
  channel: ChannelName;
  status: DeliveryStatus;
  reason?: NotSentReason;
  detail?: string;
  to: string[];
  outbox: boolean;
  providerMessageId?: string;
  variant: string | null;
  attempts: number;
  /** When a deferred send will go out. */
  notBefore?: Date;
}

export function summarise(d: Delivery): DeliverySummary {
  return {
    id: d._id,
    channel: d.channel,
    status: d.status,
    ...(d.reason ? { reason: d.reason } : {}),
    ...(d.detail ? { detail: d.detail } : {}),
    to: d.to,
    outbox: d.outbox,
    ...(d.providerMessageId ? { providerMessageId: d.providerMessageId } : {}),
    variant: d.variant,
    attempts: d.attempts,
  };
}
