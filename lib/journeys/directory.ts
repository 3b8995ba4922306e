/**
 * The journeys a runtime has deployed, with the events that end them. Any event for a
 * profile may end its live instances in any journey (an exit event, or a goal reached), so
 * the definitions are looked up by event name whichever entry point the event came through.
 */
import type { Store } from '../store/port.js';
import type { JourneyInstance } from './instance.js';
import { creditDeliveries } from '../reports/attribution.js';
import { convertHeldOut, endLiveInstances } from './lifecycle.js';

export interface JourneyDefinition {
  name: string;
  exitEvents: string[];
  goalEvents: string[];
  /** How long after a delivery a goal still credits it. */
  attributionMs?: number;
}

export const DEFAULT_ATTRIBUTION_MS = 7 * 86_400_000;

export class JourneyDirectory {
  private readonly definitions = new Map<string, Set<JourneyDefinition>>();

  /** Adds a definition; the returned function removes it again (on redeploy). */
  define(definition: JourneyDefinition): () => void {
    const set = this.definitions.get(definition.name) ?? new Set<JourneyDefinition>();
    set.add(definition);
    this.definitions.set(definition.name, set);
    return () => {
      set.delete(definition);
      if (set.size === 0 && this.definitions.get(definition.name) === set) this.definitions.delete(definition.name);
    };
  }

  /**
   * Ends the profile's live instances in every journey that `eventName` exits or converts; a
   * goal also converts the instances a split held out of that journey. Returns them all.
   */
  async applyEvent(store: Store, profileId: string, eventName: string, at: Date): Promise<JourneyInstance[]> {
    const ended: JourneyInstance[] = [];
    for (const [journey, set] of this.definitions) {
      const defs = [...set];
      const goal = defs.some((d) => d.goalEvents.includes(eventName));
      const exit = defs.some((d) => d.exitEvents.includes(eventName));
      if (!goal && !exit) continue;
      // A goal outranks an exit: the person did what the journey was for.
      const status = goal ? 'converted' : 'exited';
      const reason = `${goal ? 'goal' : 'exit'} event ${eventName}`;
      const live = await endLiveInstances(store, { profileId, journey }, status, reason, at);
      ended.push(...live);
      if (goal) {
        const window = Math.max(...defs.map((d) => d.attributionMs ?? DEFAULT_ATTRIBUTION_MS));
        await creditDeliveries(store, live.map((i) => i._id), window, at);
        ended.push(...(await convertHeldOut(store, { profileId, journey }, reason, at)));
      }
    }
    return ended;
  }
}
