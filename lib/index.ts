/** The public surface of lib/: what nodes, tests and benchmarks use. No Node-RED here. */
export * from './store/port.js';
export { COLLECTIONS, INDEXES } from './store/schema.js';
export { acquireStore, openStore, type StoreConfig, type StoreLease } from './store/open.js';
export { EmbeddedStore } from './store/embedded/index.js';
export { MongoStore } from './store/mongodb/index.js';
export { checkEvent, checkEventName, type JourneyEvent } from './events/event.js';
export { finishEvent, ingestEvent, type IngestResult, type EventDoc } from './events/ingest.js';
export { RefusalNotice, REFUSAL_WARNING_INTERVAL_MS, type RefusalWarning } from './events/refusal-notice.js';
export { checkIdentities, identityKey, type Identities } from './profiles/identities.js';
export type { Profile, IdentityDoc, ConsentEntry, ConsentStatus, EventAggregate } from './profiles/profile.js';
export { RECENT_EVENT_TIMES } from './profiles/profile.js';
export { claimDoc, resolveProfile, findProfile, findLiveProfile, followMerges } from './profiles/resolve.js';
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
export { derivedInstanceId, enrol, enrolMany, gateId, type Enrolment, type ReentryPolicy } from './journeys/enrol.js';
export {
  completeInstances,
  COMPLETED_REASON,
  convertHeldOut,
  endInstance,
  endLiveInstances,
  holdOut,
  HOLDOUT_REASON,
  moveInstancesOnMerge,
  recordStep,
} from './journeys/lifecycle.js';
export {
  assignVariant,
  checkSplit,
  HOLDOUT_VARIANT,
  isSplitMode,
  pickBranch,
  SPLIT_MODES,
  SplitConfigError,
  stableFraction,
  type Split,
  type SplitAssignment,
  type SplitBranch,
  type SplitKey,
  type SplitMode,
} from './journeys/split.js';
export { InFlight } from './journeys/in-flight.js';
export { OwnHeartbeat } from './journeys/own-heartbeat.js';
export {
  claimStranded,
  deadOwners,
  DEFAULT_LIVENESS,
  forgetOwner,
  heartbeat,
  NO_RESUME_POINT,
  recordResumePoint,
  resumeNodeGone,
  type Liveness,
  type PointOutcome,
  type ProcessDoc,
  type ResumePoint,
} from './journeys/resume-points.js';
export { isLive, type EntryGate, type InstanceStatus, type JourneyInstance } from './journeys/instance.js';
export { createAgenda, type SchedulerOptions } from './scheduler/index.js';
export { DEFAULT_ATTRIBUTION_MS, JourneyDirectory, type JourneyDefinition } from './journeys/directory.js';
export { creditDeliveries } from './reports/attribution.js';
export { Waits, WAIT_JOB, type Resumed, type ResumeHandler, type WaitJobData, type WaitOutcome, type WaitRequest } from './journeys/waits.js';
export { afterDuration, isDurationUnit, isTimeZone, nextTimeOfDay, parseDate, UNIT_MS, type DurationUnit } from './journeys/wait-time.js';
export { compileFilter, type CompiledFilter } from './store/filter-engine.js';
export { checkSegmentRules } from './segments/check.js';
export { compileSegment, LIVE_PROFILE, SegmentRuleError } from './segments/compile.js';
export { profileMatches } from './segments/match.js';
export { describeSegment } from './segments/describe.js';
export {
  EVENT_OPS,
  SEEN_OPS,
  SEGMENT_LIMITS,
  TRAIT_OPS,
  type ConsentRule,
  type EventOp,
  type EventRule,
  type GroupMatch,
  type RuleGroup,
  type SeenOp,
  type SeenRule,
  type SegmentRule,
  type SegmentRules,
  type TraitOp,
  type TraitRule,
} from './segments/rules.js';
export {
  findRun,
  LEASE_MS,
  ownerName,
  resumeRun,
  runInstanceId,
  runSummary,
  startRun,
  stopRun,
  AudienceRunner,
  type AudienceRunDoc,
  type RunListener,
  type RunSpec,
  type RunStatus,
  type RunSummary,
  type StartResult,
} from './segments/audience.js';
export { CompletionQueue } from './journeys/completion-queue.js';
export { minutesOfDay, parseTimeOfDay } from './journeys/wait-time.js';
export { recordProfileEvent } from './events/ingest.js';
export { setConsent } from './profiles/consent.js';
export {
  CHANNELS,
  deliveryKey,
  summarise,
  type ChannelName,
  type Delivery,
  type DeliveryError,
  type DeliveryReceipt,
  type DeliveryStatus,
  type DeliverySummary,
  type NotSentReason,
  type ReceiptStatus,
} from './channels/delivery.js';
export { CompiledTemplate, MAX_RENDERED_CHARS, TemplateError, TemplateSet, type TemplateKind, type TemplateScope } from './channels/template.js';
export { quietHoursProblem, quietUntil, type QuietHours } from './channels/quiet-hours.js';
export { CAP_LIMITS, capProblem, releaseSlot, reserveSlot, type CapDecision, type FrequencyCap } from './channels/frequency-cap.js';
export {
  backoffMs,
  DEFAULT_RETRY,
  DEFAULT_TIMEOUT_SECONDS,
  longestWaitMs,
  RETRY_LIMITS,
  retryPolicyOf,
  retrySettingsProblem,
  timeoutMsOf,
  withDeadline,
  type RetryPolicy,
  type RetrySettings,
} from './channels/retry.js';
export {
  leaseMs,
  Outbox,
  OUTBOX_PROVIDER,
  RECOVERY_GRACE_MS,
  SEND_LEASE_MS,
  type DeliverOptions,
  type Provider,
  type ProviderResult,
} from './channels/outbox.js';
export { consentRefusal, send, type AddressLookup, type ChannelSpec, type ConsentMode, type SendOutcome, type SendPolicy, type SendRequest } from './channels/send.js';
export { peekLink, signingKey, signLink, verifyLink, type LinkAction, type LinkClaim } from './channels/signing.js';
export { emailAddress, isEmailAddress } from './channels/email/address.js';
export { classify as classifySmtpError, DEFAULT_SMTP_CONNECTIONS, MAX_SMTP_CONNECTIONS, smtpConnectionsProblem, smtpProvider, type EmailContent, type SmtpAccount } from './channels/email/smtp.js';
export { smtpThreadProvider, THREAD_NAME as SMTP_THREAD_NAME } from './channels/email/smtp-thread.js';
export { addTracking, PIXEL_GIF, recordClick, recordOpen, TRACKING_PATHS, trackingUrl, unsubscribe, type LinkBase } from './channels/email/tracking.js';
export { emailChannel, type EmailField, type EmailTracking } from './channels/email/channel.js';
export { CHANNEL_FIELDS, channelTemplates, type ChannelField } from './channels/fields.js';
export * from './channels/sms/index.js';
export { journeyReport, listJourneys, type BranchRow, type ChannelRow, type FunnelRow, type JourneyReport, type JourneySummary, type TimelineRow } from './reports/journeys.js';
export { compareProportions, normalCdf, wilsonInterval, type Interval } from './reports/stats.js';
export { addNodeCounts, nodeCounts } from './reports/node-counters.js';
export * from './channels/push/index.js';
export { countDelivery, deliveryCounters, type DeliveryCounterDoc } from './reports/delivery-counters.js';
export { SIGNATURE_HEADER, signWebhook, TIMESTAMP_HEADER, verifyWebhook, WEBHOOK_BODY_LIMIT, WEBHOOK_TOLERANCE_MS, type WebhookCheck } from './events/webhook.js';
