/** The unified profile: one document per person. */
import { randomUUID } from 'node:crypto';
import type { Doc } from '../store/port.js';
import type { JsonObject, JsonValue } from '../validate/document.js';

export interface EventAggregate {
  count: number;
  first: Date;
  last: Date;
}

export type ConsentStatus = 'granted' | 'denied';

export interface ConsentEntry {
  status: ConsentStatus;
  at: Date;
}

export interface Profile extends Doc {
  /** identity type -> every value this person is known by. */
  identities: Record<string, string[]>;
  traits: JsonObject;
  consent: Record<string, ConsentEntry>;
  /** event name -> how often and when, so segments need no scan of raw events. */
  aggregates: Record<string, EventAggregate>;
  /** The last messageIds applied to the aggregates: makes a retried event count once. */
  recentMessageIds: string[];
  /** Profiles folded into this one. Guards a merge from being applied twice. */
  mergedFrom: string[];
  /** Set on a profile that was merged away: the profile that holds its data now. */
  mergedInto?: string;
  /** Bumped by every read-modify-write of traits, consent or a merge (optimistic lock). */
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

export interface IdentityDoc extends Doc {
  type: string;
  value: string;
  profileId: string;
  at: Date;
}

export type TraitValue = JsonValue;

export const RECENT_MESSAGE_IDS = 50;

export const newProfileId = (): string => randomUUID();

/** Fields a new profile starts with; written with $setOnInsert so a racing upsert is harmless. */
export function profileSeed(at: Date): Omit<Profile, '_id' | 'identities' | 'updatedAt'> {
  return {
    traits: {},
    consent: {},
    aggregates: {},
    recentMessageIds: [],
    mergedFrom: [],
    version: 0,
    createdAt: at,
  };
}
