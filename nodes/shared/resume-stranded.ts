/**
 * Taking over the journey msgs a stopped process was carrying: each active instance whose
 * resume point names a dead owner is claimed (one process wins each) and its msg is sent
 * again from the node and output it last left, marked `msg.journey.resumed`, so the nodes
 * after it give the outcome they gave the first time rather than acting twice.
 */
import {
  claimStranded,
  deadOwners,
  endInstance,
  forgetOwner,
  NO_RESUME_POINT,
  resumeNodeGone,
  type JourneyInstance,
  type Liveness,
  type Store,
} from '../../lib/index.js';
import { resumedMessage } from './hold.js';
import { setOnJourney } from './input.js';
import { carriers, onPort } from './resume.js';
import type { NodeAPI } from './red.js';

export interface Carrier {
  store: Store;
  /** This process's owner id. */
  owner: string;
  liveness: Liveness;
  followInstance(instanceId: string): void;
}

/** Resumes every msg dead owners left; returns how many per owner. */
export async function resumeStranded(RED: NodeAPI, carrier: Carrier): Promise<Map<string, number>> {
  const resumed = new Map<string, number>();
  for (const dead of await deadOwners(carrier.store, carrier.owner, new Date(), carrier.liveness)) {
    let count = 0;
    for (let claimed = await claim(carrier, dead); claimed; claimed = await claim(carrier, dead)) {
      if (await resendFromPoint(RED, carrier, claimed)) count += 1;
    }
    await forgetOwner(carrier.store, dead);
    if (count > 0) resumed.set(dead, count);
  }
  return resumed;
}

const claim = (carrier: Carrier, from: string) => claimStranded(carrier.store, from, carrier.owner, new Date());

/** Sends the instance's msg on from its point; an instance that cannot be resumed ends `exited`, saying why. */
async function resendFromPoint(RED: NodeAPI, carrier: Carrier, instance: JourneyInstance): Promise<boolean> {
  const point = instance.resume;
  const exit = (reason: string) => endInstance(carrier.store, instance._id, 'exited', reason, new Date()).then(() => false);
  if (!point?.node || !point.snapshot) return exit(NO_RESUME_POINT);
  // Only a journey node still deployed: another node with that id would not be the one the msg left.
  const from = carriers.has(point.node) ? RED.nodes.getNode(point.node) : null;
  if (!from) return exit(resumeNodeGone(point.node));
  const msg = await resumedMessage(RED, carrier.store, instance, point.snapshot);
  setOnJourney(msg, { resumed: true });
  carrier.followInstance(instance._id);
  from.send(onPort(msg, point.port ?? 0));
  return true;
}
