/** The unified profile: one document per person. */
import { randomUUID } from 'node:crypto';
import type { Doc } from '../store/port.js';
import type { JsonObject, JsonValue } from '../validate/document.js';

export interface EventAggregate {
  count: number;
  first: Date;
  last: Date;
  /**
   * When the most recent occurrences happened, newest first, at most RECENT_EVENT_TIMES:
   * what lets a segment ask "at least N times in the last D days" of the profile alone.
   * Absent on aggregates counted before it was kept.
   */
  recent?: Date[];
}

export type ConsentStatus = 'granted' | 'denied';

export interface ConsentEntry {
  status: ConsentStatus;
  at: Date;
  /** Why it was denied when the package denied it: 'unsubscribed', 'bounced', 'stop'... */
  reason?: string;
}

export interface Profile extends Doc {
  /** identity type -> every value this person is known by. */
  identities: Record<string, string[]>;
  traits: JsonObject;
  consent: Record<string, ConsentEntry>;
  /** event name -> how often and when, so segments need no scan of raw events. */
  aggregates: Record<string, EventAggregate>;
  /**
   * The last messageIds applied to the aggregates, and the keys of the trait merges applied
   * (`applyProfileChanges`' `once`): makes a retried or replayed event count once.
   */
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

/** An event takes up to two entries (its count, and a profile-merge's merge of it): the last 50 events or so. */
export const RECENT_MESSAGE_IDS = 100;

/** How many occurrence times an aggregate keeps: the largest N a windowed count can ask for. */
export const RECENT_EVENT_TIMES = 50;

/** Two lists of occurrence times as one, newest first, capped as the store caps them. */
export function mergeRecent(a: Date[] = [], b: Date[] = []): Date[] {
  return [...a, ...b].sort((x, y) => y.getTime() - x.getTime()).slice(0, RECENT_EVENT_TIMES);
}

export const newProfileId = (): string => randomUUID();

/** Fields a new profile starts with; written with $setOnInsert so a racing upsert is harmless. */
export function profileSeed(at: Date): Pick<Profile, 'traits' | 'consent' | 'aggregates' | 'recentMessageIds' | 'mergedFrom' | 'version' | 'createdAt'> {
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
