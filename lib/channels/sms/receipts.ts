/**
 * Delivery receipts: Twilio's status callbacks for a sent SMS (form fields MessageSid,
 * MessageStatus, ErrorCode) recorded on its delivery as `receipt`, apart from the delivery's
 * `status`, which only says Twilio took the message.
 *
 * Twilio calls back once per status change and again when it got no answer, and the calls
 * can arrive in any order: each one is a single conditional write that only moves the
 * receipt to a later stage, so a late `undelivered` never hides a `delivered`, and a retried
 * call changes nothing and counts nothing.
 */
import { setConsent } from '../../profiles/consent.js';
import { countDelivery } from '../../reports/delivery-counters.js';
import type { Store } from '../../store/port.js';
import { COLLECTIONS } from '../../store/schema.js';
import type { Delivery, DeliveryReceipt, ReceiptStatus } from '../delivery.js';
import { TWILIO_STOPPED } from './twilio.js';

/**
 * How far along each final status is. Undelivered and failed are one stage: whichever came
 * first stays. A handset's confirmation outranks a carrier's earlier failure report.
 */
const STAGE: Record<ReceiptStatus, number> = { undelivered: 1, failed: 1, delivered: 2, read: 3 };
const RECEIPT_STATUSES = Object.keys(STAGE) as ReceiptStatus[];

/** Error codes that say the person does not want these messages: SMS consent is withdrawn, as on a STOP reply. */
const WITHDRAWS = new Map<string, string>([
  [String(TWILIO_STOPPED), 'stop'],
  // Blocked: the number or its carrier refuses messages from this sender, as a hard bounce does.
  ['30004', 'bounced'],
]);

/** Twilio's message SIDs: SM (SMS) or MM (MMS) and 32 hexadecimal characters. */
const MESSAGE_SID = /^[SM]M[0-9a-fA-F]{32}$/;
const ERROR_CODE = /^\d{1,6}$/;

export type ReceiptResult =
  /** A status on the way (queued, sending, sent, accepted...) or one this package does not know: nothing to record. */
  | { kind: 'ignored' }
  /** No SMS delivery has this SID (sent by something else, or its store was emptied). */
  | { kind: 'unknown' }
  /** The delivery already has this receipt or a later one (a retry, or a call overtaken by a later one). */
  | { kind: 'unchanged' }
  | { kind: 'recorded'; deliveryId: string; profileId: string; receipt: DeliveryReceipt; consentWithdrawn: boolean };

/** A form field as a string, or undefined: a parsed body may hold anything, and no field may reach a query as an operator. */
function field(params: Record<string, unknown>, ...names: string[]): string | undefined {
  for (const name of names) {
    const value = params[name];
    if (typeof value === 'string' && value !== '') return value;
  }
  return undefined;
}

/** The counter a receipt status falls under in reports. */
const bucket = (status: ReceiptStatus | undefined): 'delivered' | 'undelivered' | null =>
  status === undefined ? null : STAGE[status] >= STAGE.delivered ? 'delivered' : 'undelivered';

/** Applies one status callback to the SMS delivery Twilio names. */
export async function applyStatusCallback(store: Store, params: Record<string, unknown>, now: Date): Promise<ReceiptResult> {
  const sid = field(params, 'MessageSid', 'SmsSid');
  const reported = field(params, 'MessageStatus', 'SmsStatus')?.toLowerCase();
  if (!sid || !MESSAGE_SID.test(sid) || !reported || !(RECEIPT_STATUSES as string[]).includes(reported)) return { kind: 'ignored' };
  const status = reported as ReceiptStatus;
  const errorCode = field(params, 'ErrorCode');
  const receipt: DeliveryReceipt = { status, at: now, ...(errorCode && ERROR_CODE.test(errorCode) ? { errorCode } : {}) };
  const is = bucket(status);

  const deliveries = store.collection<Delivery>(COLLECTIONS.deliveries);
  const atOrAfter = RECEIPT_STATUSES.filter((s) => STAGE[s] >= STAGE[status]);
  const before = await deliveries.findOneAndUpdate(
    { providerMessageId: sid, channel: 'sms', 'receipt.status': { $nin: atOrAfter } },
    { $set: { receipt, updatedAt: now }, ...(is === 'delivered' ? { $min: { deliveredAt: now } } : {}) },
    { returnDocument: 'before' },
  );
  if (!before) {
    const known = await deliveries.findOne({ providerMessageId: sid, channel: 'sms' }, { projection: { _id: 1 } });
    return { kind: known ? 'unchanged' : 'unknown' };
  }

  // Only the write that moved the receipt counts, so the counters match the deliveries whatever Twilio repeats.
  const was = bucket(before.receipt?.status);
  if (is && was !== is) await countDelivery(store, before, { [is]: 1, ...(was ? { [was]: -1 } : {}) });

  const withdraw = is === 'undelivered' && receipt.errorCode ? WITHDRAWS.get(receipt.errorCode) : undefined;
  if (withdraw) await setConsent(store, before.profileId, 'sms', 'denied', now, withdraw);
  return { kind: 'recorded', deliveryId: before._id, profileId: before.profileId, receipt, consentWithdrawn: withdraw !== undefined };
}
