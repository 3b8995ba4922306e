/**
 * Holding a msg in the store while its journey instance waits (a wait node, or a send
 * deferred past quiet hours) and rebuilding it when the instance resumes.
 */
import { checkObject, COLLECTIONS, type JourneyInstance, type JsonObject, type Profile, type Store } from '../../lib/index.js';
import { codedError } from './input.js';
import type { NodeAPI, NodeMessage, NodeMessageInFlow } from './red.js';

/** msg keys that cannot or must not be kept while waiting: live HTTP objects, the old id, the profile (reloaded on resume). */
const NOT_KEPT = new Set(['req', 'res', '_msgid', 'profile', '_event', 'socketid']);
const SNAPSHOT_LIMITS = { maxBytes: 256 * 1024, maxDepth: 16, maxKeysPerObject: 1000, maxArrayLength: 10_000, maxStringLength: 64 * 1024 };

export function snapshotOf(msg: NodeMessageInFlow): JsonObject {
  const kept: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(msg)) if (!NOT_KEPT.has(key)) kept[key] = value;
  let plain: unknown;
  try {
    plain = JSON.parse(JSON.stringify(kept)); // dates become ISO strings; functions and undefined drop out
  } catch (err) {
    throw codedError(`the msg cannot be kept while waiting: ${(err as Error).message}`, 'UNKEEPABLE_MSG');
  }
  const checked = checkObject(plain, 'msg', SNAPSHOT_LIMITS);
  if (!checked.ok) throw codedError(`the msg cannot be kept while waiting: ${checked.reason}`, 'UNKEEPABLE_MSG');
  return checked.value;
}

/** The held msg again, with a new id, the profile as it is now and the instance it belongs to. */
export async function resumedMessage(RED: NodeAPI, store: Store, instance: JourneyInstance, snapshot: JsonObject): Promise<NodeMessage> {
  const msg: NodeMessage = { ...snapshot, _msgid: RED.util.generateId() };
  msg.profile = (await store.collection<Profile>(COLLECTIONS.profiles).findOne({ _id: instance.profileId })) ?? undefined;
  msg.profileId = instance.profileId;
  msg.journey = { ...(typeof snapshot.journey === 'object' ? snapshot.journey : {}), name: instance.journey, instanceId: instance._id };
  return msg;
}
