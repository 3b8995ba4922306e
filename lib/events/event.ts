/**
 * The event: what happened, to whom, when. Validation turns whatever arrived (a webhook
 * body, an MQTT payload, an inject) into one normalised shape or a reason it was refused.
 */
import { randomUUID } from 'node:crypto';
import { checkIdentities, type Identities } from '../profiles/identities.js';
import { checkObject, DEFAULT_LIMITS, isPlainObject, keyProblem, type DocumentLimits, type JsonObject } from '../validate/document.js';
import { accept, reject, type Checked } from '../validate/result.js';

export interface JourneyEvent {
  messageId: string;
  name: string;
  identities: Identities;
  properties: JsonObject;
  /** Profile attributes sent with the event, for profile-merge. */
  traits?: JsonObject;
  timestamp: Date;
  receivedAt: Date;
}

const NAME_PATTERN = /^[\p{L}\p{N}_][\p{L}\p{N}_ :/-]{0,99}$/u;
const MESSAGE_ID_PATTERN = /^[\x21-\x7e]{1,200}$/;
const MAX_FUTURE_MS = 24 * 60 * 60 * 1000;

export function checkEventName(raw: unknown): Checked<string> {
  if (typeof raw !== 'string') return reject('BAD_NAME', 'the event has no name (a string in "name" or "event")');
  const name = raw.trim();
  if (!NAME_PATTERN.test(name)) {
    return reject(
      'BAD_NAME',
      `event name ${JSON.stringify(name.slice(0, 100))} must be 1-100 letters, digits, spaces or _ : / - and start with a letter, digit or _`,
    );
  }
  const problem = keyProblem(name);
  if (problem) return reject('BAD_NAME', `event name is ${problem}`);
  return accept(name);
}

function checkTimestamp(raw: unknown, now: Date): Checked<Date> {
  if (raw === undefined || raw === null) return accept(now);
  let at: Date;
  if (raw instanceof Date) at = new Date(raw.getTime());
  else if (typeof raw === 'number') at = new Date(raw);
  else if (typeof raw === 'string' && raw.trim() !== '') at = new Date(/^\d+$/.test(raw.trim()) ? Number(raw) : raw);
  else return reject('BAD_TIMESTAMP', 'timestamp must be an ISO 8601 string or milliseconds since 1970');
  if (Number.isNaN(at.getTime())) return reject('BAD_TIMESTAMP', `timestamp ${JSON.stringify(String(raw).slice(0, 40))} is not a date`);
  if (at.getTime() < 0) return reject('BAD_TIMESTAMP', 'timestamp is before 1970');
  if (at.getTime() > now.getTime() + MAX_FUTURE_MS) return reject('BAD_TIMESTAMP', 'timestamp is more than a day in the future');
  return accept(at);
}

function checkMessageId(raw: unknown): Checked<string> {
  if (raw === undefined || raw === null || raw === '') return accept(`gen-${randomUUID()}`);
  if (typeof raw !== 'string' || !MESSAGE_ID_PATTERN.test(raw)) {
    return reject('BAD_MESSAGE_ID', 'messageId must be a string of 1-200 printable characters without spaces');
  }
  return accept(raw);
}

export function checkEvent(input: unknown, now = new Date(), limits: DocumentLimits = DEFAULT_LIMITS): Checked<JourneyEvent> {
  if (!isPlainObject(input)) {
    return reject('NOT_AN_OBJECT', `an event must be an object, not ${Array.isArray(input) ? 'an array' : input === null ? 'null' : typeof input}`);
  }
  const name = checkEventName(input.name ?? input.event);
  if (!name.ok) return name;
  const identities = checkIdentities(input);
  if (!identities.ok) return identities;
  const properties = input.properties === undefined ? accept<JsonObject>({}) : checkObject(input.properties, 'properties', limits);
  if (!properties.ok) return properties;
  const traits = input.traits === undefined ? undefined : checkObject(input.traits, 'traits', limits);
  if (traits && !traits.ok) return traits;
  const timestamp = checkTimestamp(input.timestamp, now);
  if (!timestamp.ok) return timestamp;
  const messageId = checkMessageId(input.messageId);
  if (!messageId.ok) return messageId;
  return accept({
    messageId: messageId.value,
    name: name.value,
    identities: identities.value,
    properties: properties.value,
    ...(traits ? { traits: traits.value } : {}),
    timestamp: timestamp.value,
    receivedAt: now,
  });
}
