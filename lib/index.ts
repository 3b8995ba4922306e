/** The public surface of lib/: what nodes, tests and benchmarks use. No Node-RED here. */
export * from './store/port.js';
export { COLLECTIONS, INDEXES } from './store/schema.js';
export { acquireStore, openStore, type StoreConfig, type StoreLease } from './store/open.js';
export { EmbeddedStore } from './store/embedded/index.js';
export { MongoStore } from './store/mongodb/index.js';
export { checkEvent, checkEventName, type JourneyEvent } from './events/event.js';
export { ingestEvent, type IngestResult, type EventDoc } from './events/ingest.js';
export { checkIdentities, identityKey, type Identities } from './profiles/identities.js';
export type { Profile, IdentityDoc, ConsentEntry, ConsentStatus, EventAggregate } from './profiles/profile.js';
export { resolveProfile, findProfile, followMerges } from './profiles/resolve.js';
export { countEvent } from './profiles/aggregates.js';
export {
  applyProfileChanges,
  isMergeStrategy,
  mergeTraits,
  MERGE_STRATEGIES,
  TraitMergeError,
  type MergePolicy,
  type MergeStrategy,
} from './profiles/traits.js';
export { stitchProfiles, unifyProfiles, chooseSurvivor, type Unified } from './profiles/stitch.js';
export { recordMilestone, countMilestones, type Milestone, type MilestoneCount } from './track/milestones.js';
export { checkObject, keyProblem, DEFAULT_LIMITS, type DocumentLimits, type JsonObject, type JsonValue } from './validate/document.js';
export type { Checked, RejectCode } from './validate/result.js';
export { enrol, gateId, type Enrolment, type ReentryPolicy } from './journeys/enrol.js';
export { completeInstance, COMPLETED_REASON, endInstance, endLiveInstances, moveInstancesOnMerge, recordStep } from './journeys/lifecycle.js';
export { InFlight } from './journeys/in-flight.js';
export { isLive, type EntryGate, type InstanceStatus, type JourneyInstance } from './journeys/instance.js';
export { createAgenda, type SchedulerOptions } from './scheduler/index.js';
export { JourneyDirectory, type JourneyDefinition } from './journeys/directory.js';
export { Waits, WAIT_JOB, type Resumed, type ResumeHandler, type WaitOutcome, type WaitRequest } from './journeys/waits.js';
export { afterDuration, isDurationUnit, isTimeZone, nextTimeOfDay, parseDate, UNIT_MS, type DurationUnit } from './journeys/wait-time.js';
