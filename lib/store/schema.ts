/**
 * Every collection the package uses and the indexes it declares. The MongoDB adapter creates
 * these at start; the embedded adapter keeps an equality index on every field they name.
 * Only plain ascending/descending indexes: no TTL, partial or unique secondary indexes,
 * which the MongoDB-wire test servers do not support (uniqueness goes through `_id`).
 */
export interface IndexSpec {
  key: Record<string, 1 | -1>;
  name: string;
}

export const COLLECTIONS = {
  profiles: 'profiles',
  identities: 'identities',
  events: 'events',
  milestones: 'milestones',
  agendaJobs: 'agendaJobs',
  instances: 'journeyInstances',
  entryGates: 'journeyEntryGates',
  audienceRuns: 'audienceRuns',
  deliveries: 'deliveries',
  frequencyCaps: 'frequencyCaps',
  settings: 'settings',
  nodeCounters: 'nodeCounters',
  deliveryCounters: 'deliveryCounters',
  processes: 'journeyProcesses',
} as const;

export type CollectionName = (typeof COLLECTIONS)[keyof typeof COLLECTIONS];

export const INDEXES: Record<CollectionName, IndexSpec[]> = {
  profiles: [
    { key: { mergedInto: 1 }, name: 'mergedInto' },
    { key: { updatedAt: -1 }, name: 'updatedAt' },
  ],
  identities: [{ key: { profileId: 1 }, name: 'profileId' }],
  events: [
    { key: { profileId: 1, timestamp: -1 }, name: 'profile_time' },
    { key: { name: 1, timestamp: -1 }, name: 'name_time' },
  ],
  milestones: [
    { key: { name: 1, journey: 1, variant: 1 }, name: 'name_journey_variant' },
    { key: { profileId: 1, at: -1 }, name: 'profile_time' },
  ],
  // Agenda's own indexes come with its backend; this one finds a wait's job by its instance
  // (unique saves and cancels) without reading every job.
  agendaJobs: [{ key: { 'data.instanceId': 1 }, name: 'wait_instance' }],
  journeyInstances: [
    { key: { profileId: 1, status: 1, journey: 1 }, name: 'profile_status_journey' },
    { key: { journey: 1, status: 1 }, name: 'journey_status' },
    { key: { waitingAt: 1, status: 1 }, name: 'waiting_at' },
    // Waits whose timer a dead process never saved (Waits.recoverTimers); the mark is gone a moment after parking.
    { key: { timerPending: 1 }, name: 'timer_pending' },
    // A dead process's msgs, to take over.
    { key: { 'resume.owner': 1, status: 1 }, name: 'resume_owner' },
  ],
  journeyEntryGates: [],
  // One document per segment node, its current or last run: found by _id only.
  audienceRuns: [],
  deliveries: [
    // A sender's own deliveries by state: what the recovery sweep looks for.
    { key: { node: 1, status: 1, dueAt: 1 }, name: 'node_status_due' },
    { key: { profileId: 1, createdAt: -1 }, name: 'profile_time' },
    { key: { journey: 1, channel: 1, status: 1 }, name: 'journey_channel_status' },
    // Attribution finds an instance's sends when a goal converts it.
    { key: { instanceId: 1 }, name: 'instance' },
    // A provider's delivery receipt names the message by the provider's id (Twilio's SID).
    { key: { providerMessageId: 1 }, name: 'provider_message' },
  ],
  // One document per profile and channel, found by _id only.
  frequencyCaps: [],
  // Package-wide values shared by every process on the database (the link-signing key), by _id only.
  settings: [],
  // One document per node (its badge's counts), by _id only.
  nodeCounters: [],
  // Per journey, channel and send node: what reports show of its deliveries.
  deliveryCounters: [{ key: { journey: 1 }, name: 'journey' }],
  // One heartbeat per running journey-store (by _id); the few stale ones are found by age.
  journeyProcesses: [{ key: { seenAt: 1 }, name: 'seen_at' }],
};
