/**
 * Milestones: named points a profile reached in a journey (a conversion, a step), with the
 * journey, node and split variant that led there, for attribution and reports.
 */
import { randomUUID } from 'node:crypto';
import { DuplicateKeyError, type Doc, type Store } from '../store/port.js';
import { COLLECTIONS } from '../store/schema.js';
import { checkEventName } from '../events/event.js';
import type { JsonObject } from '../validate/document.js';

export interface Milestone {
  name: string;
  profileId: string;
  journey?: string;
  node?: string;
  variant?: string;
  properties?: JsonObject;
  at: Date;
}

export interface MilestoneDoc extends Doc, Milestone {}

export interface MilestoneCount {
  name: string;
  journey: string | null;
  variant: string | null;
  count: number;
  profiles: number;
}

/**
 * Records a milestone once per `key` (a retry with the same key is a no-op); returns
 * whether this call recorded it. Without a key every call records.
 */
export async function recordMilestone(store: Store, milestone: Milestone, key?: string): Promise<boolean> {
  const name = checkEventName(milestone.name);
  if (!name.ok) throw new Error(`milestone name: ${name.reason}`);
  const doc: MilestoneDoc = { _id: key ?? randomUUID(), ...milestone, name: name.value };
  try {
    await store.collection<MilestoneDoc>(COLLECTIONS.milestones).insertOne(doc);
    return true;
  } catch (err) {
    if (err instanceof DuplicateKeyError) return false;
    throw err;
  }
}

/** How often each milestone was reached, and by how many profiles, per journey and variant. */
export async function countMilestones(
  store: Store,
  where: { name?: string; journey?: string } = {},
): Promise<MilestoneCount[]> {
  const match: Record<string, string> = {};
  if (where.name !== undefined) match.name = where.name;
  if (where.journey !== undefined) match.journey = where.journey;
  const rows = await store.collection<MilestoneDoc>(COLLECTIONS.milestones).aggregate<{
    _id: { name: string; journey?: string | null; variant?: string | null; profileId: string };
    count: number;
  }>([
    { $match: match },
    {
      $group: {
        _id: { name: '$name', journey: '$journey', variant: '$variant', profileId: '$profileId' },
        count: { $sum: 1 },
      },
    },
  ]);
  // Two stages of grouping done here rather than in the pipeline: the MongoDB-wire test
  // servers differ on grouping by a sub-document of a previous group's _id.
  const totals = new Map<string, MilestoneCount>();
  for (const row of rows) {
    const journey = row._id.journey ?? null;
    const variant = row._id.variant ?? null;
    const key = JSON.stringify([row._id.name, journey, variant]);
    const total = totals.get(key) ?? { name: row._id.name, journey, variant, count: 0, profiles: 0 };
    total.count += row.count;
    total.profiles += 1;
    totals.set(key, total);
  }
  return [...totals.values()].sort(
    (a, b) => a.name.localeCompare(b.name) || String(a.journey).localeCompare(String(b.journey)) || String(a.variant).localeCompare(String(b.variant)),
  );
}
