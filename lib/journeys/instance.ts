/** A journey instance: one profile's pass through one journey. */
import type { Doc } from '../store/port.js';
import type { JsonObject } from '../validate/document.js';
import type { ResumePoint } from './resume-points.js';

export const LIVE_STATUSES = ['active', 'waiting'] as const;
export type LiveStatus = (typeof LIVE_STATUSES)[number];
export type EndStatus = 'completed' | 'exited' | 'converted';
export type InstanceStatus = LiveStatus | EndStatus;

export interface PathStep {
  node: string;
  at: Date;
}

export interface JourneyInstance extends Doc {
  journey: string;
  profileId: string;
  status: InstanceStatus;
  /** Node ids in the order the instance passed them. */
  path: PathStep[];
  /** split node id -> variant taken there. */
  variants: Record<string, string>;
  /** While waiting: what the resumed message needs, the wait node, and the event awaited (if any). */
  snapshot?: JsonObject;
  waitingAt?: string;
  waitingFor?: string | null;
  /** While waiting: this parking's id, which its timer carries (see waits.ts). */
  waitId?: string;
  /** While waiting: when its timer falls due; `timerPending` until the timer is saved. */
  waitUntil?: Date;
  timerPending?: boolean;
  /** The split node whose holdout took the instance out of the journey (its control group). */
  heldOutAt?: string;
  /** While active: where its msg last left a journey node, to send it again from there if its process dies. */
  resume?: ResumePoint;
  enteredAt: Date;
  updatedAt: Date;
  endedAt?: Date;
  endReason?: string;
}

/** Per journey and profile: what the re-entry policy needs to decide, claimed atomically. */
export interface EntryGate extends Doc {
  journey: string;
  profileId: string;
  entries: number;
  lastEnteredAt: Date;
  /** The live instance, while there is one. */
  liveInstance: string | null;
}

export const isLive = (status: InstanceStatus): status is LiveStatus => (LIVE_STATUSES as readonly string[]).includes(status);
