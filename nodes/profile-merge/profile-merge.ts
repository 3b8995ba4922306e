/**
 * profile-merge: merges traits, consent and identities from msg into the unified profile,
 * field by field with a strategy each; when the identities on msg belong to more than one
 * profile (anonymous browsing, then sign-up) it stitches them into one. Puts the unified
 * profile on msg.profile.
 */
import {
  applyProfileChanges,
  checkIdentities,
  checkObject,
  isMergeStrategy,
  unifyProfiles,
  type ConsentStatus,
  type Identities,
  type JsonObject,
  type MergePolicy,
  type MergeStrategy,
  type Profile,
} from '../../lib/index.js';
import { codedError } from '../shared/input.js';
import { redUtil, registerNode, type Node, type NodeAPI, type NodeDef, type NodeMessageInFlow } from '../shared/red.js';
import { useStore } from '../shared/store-user.js';

interface ProfileMergeDef extends NodeDef {
  store?: string;
  traits?: string;
  consent?: string;
  strategy?: string;
  fields?: Array<{ field?: string; strategy?: string }>;
}

export = function (RED: NodeAPI): void {
  function ProfileMergeNode(this: Node, def: ProfileMergeDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const util = redUtil(RED);
    const traitsProperty = def.traits?.trim() || 'payload.traits';
    const consentProperty = def.consent?.trim() || 'payload.consent';
    const policy = mergePolicy(def);
    if (typeof policy === 'string') {
      node.error(RED._('profile-merge.errors.bad-strategy', { field: policy }));
      return;
    }

    useStore(RED, node, def.store, { textKey: 'profile-merge.status.counts', keys: ['merged', 'stitched'], kept: true }, (user) => async (msg, send) => {
      const identities = identitiesOf(msg);
      const traits = optionalObject(util.getMessageProperty(msg, traitsProperty), traitsProperty);
      const consent = consentOf(util.getMessageProperty(msg, consentProperty), consentProperty);
      const store = await user.store();
      const now = new Date();
      let profileId = typeof msg.profileId === 'string' ? msg.profileId : undefined;
      let merged: Array<{ loser: string; winner: string }> = [];
      if (identities) {
        const unified = await unifyProfiles(store, identities, now, resolvedByEventIn(msg));
        profileId = unified.profile._id;
        merged = unified.merged;
      }
      if (!profileId) {
        throw codedError(RED._('profile-merge.errors.no-profile'), 'NO_PROFILE');
      }
      // Keyed by the event, so that a retried event or a msg sent on after a crash merges once.
      const messageId = (msg.event as { messageId?: unknown } | undefined)?.messageId;
      const once = typeof messageId === 'string' ? `profile-merge ${node.id} ${messageId}` : undefined;
      const profile = await applyProfileChanges(store, profileId, { ...(traits ? { traits } : {}), ...(consent ? { consent } : {}) }, policy, now, once);
      user.badge.bump('merged');
      if (merged.length > 0) user.badge.bump('stitched', merged.length);
      msg.profile = profile;
      msg.profileId = profile._id;
      if (merged.length > 0) msg.merged = merged;
      send(msg);
    });

    /** The profile event-in resolved from msg.event's identities, while msg still carries the two together. */
    function resolvedByEventIn(msg: NodeMessageInFlow): Profile | undefined {
      const profile = msg.profile as Partial<Profile> | undefined;
      const fromEvent = (msg.event as { identities?: unknown } | undefined)?.identities !== undefined;
      return fromEvent && typeof profile?._id === 'string' && profile._id === msg.profileId && typeof profile.identities === 'object' && profile.identities !== null
        ? (profile as Profile)
        : undefined;
    }

    function identitiesOf(msg: NodeMessageInFlow): Identities | undefined {
      const event = msg.event as { identities?: unknown } | undefined;
      const source = event?.identities ?? (msg.payload as { identities?: unknown } | undefined)?.identities;
      if (source === undefined) return undefined;
      const checked = checkIdentities({ identities: source });
      if (!checked.ok) throw codedError(checked.reason, checked.code);
      return checked.value;
    }
  }

  registerNode(RED, 'profile-merge', ProfileMergeNode);
};

/** The merge policy from the node's settings, or the name of the field whose strategy is unknown. */
function mergePolicy(def: ProfileMergeDef): MergePolicy | string {
  const fallback = def.strategy || 'overwrite';
  if (!isMergeStrategy(fallback)) return '*';
  const fields: Record<string, MergeStrategy> = {};
  for (const rule of def.fields ?? []) {
    const field = rule.field?.trim();
    if (!field) continue;
    if (!isMergeStrategy(rule.strategy)) return field;
    fields[field] = rule.strategy;
  }
  return { default: fallback, fields };
}

function optionalObject(value: unknown, what: string): JsonObject | undefined {
  if (value === undefined || value === null) return undefined;
  const checked = checkObject(value, `msg.${what}`);
  if (!checked.ok) throw codedError(checked.reason, checked.code);
  return checked.value;
}

/** Consent as { channel: true | false | "granted" | "denied" }. */
function consentOf(value: unknown, what: string): Record<string, ConsentStatus> | undefined {
  const object = optionalObject(value, what);
  if (!object) return undefined;
  const out: Record<string, ConsentStatus> = {};
  for (const [channel, raw] of Object.entries(object)) {
    if (raw === true || raw === 'granted') out[channel] = 'granted';
    else if (raw === false || raw === 'denied') out[channel] = 'denied';
    else throw codedError(`msg.${what}.${channel} must be true, false, "granted" or "denied"`, 'BAD_CONSENT');
  }
  return out;
}
