/**
 * The settings of a node where profiles enter a journey (event-in, and segment in audience
 * mode), read the same way by both: the re-entry policy and the journey's exit and goal
 * events.
 */
import type { ReentryPolicy } from '../../lib/index.js';
import { journeys } from './journeys.js';
import type { Node } from './red.js';

export interface JourneyEntryDef {
  reentry?: string;
  reentryPeriod?: number | string;
  reentryUnit?: string;
  exitEvents?: string;
  goalEvents?: string;
  attributionDays?: number | string;
}

const UNIT_MS: Record<string, number> = { minutes: 60_000, hours: 3_600_000, days: 86_400_000 };

/** "a, b ,c" -> ["a", "b", "c"] */
export const nameList = (value: string | undefined): string[] =>
  (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

export function reentryPolicy(def: JourneyEntryDef): ReentryPolicy {
  switch (def.reentry) {
    case 'always':
    case 'once':
      return { mode: def.reentry };
    case 'oncePer': {
      const amount = Number(def.reentryPeriod);
      const unit = UNIT_MS[def.reentryUnit ?? 'days'] ?? UNIT_MS.days!;
      return { mode: 'oncePer', periodMs: (Number.isFinite(amount) && amount > 0 ? amount : 30) * unit };
    }
    default:
      return { mode: 'oneActive' };
  }
}

/** Puts the journey's exit and goal events in the runtime's directory while the node is deployed. */
export function defineJourney(node: Node, journey: string, def: JourneyEntryDef): void {
  const days = Number(def.attributionDays ?? 7);
  const forget = journeys.define({
    name: journey,
    exitEvents: nameList(def.exitEvents),
    goalEvents: nameList(def.goalEvents),
    attributionMs: (Number.isFinite(days) && days > 0 ? days : 7) * 86_400_000,
  });
  node.on('close', forget);
}
