/**
 * track: records a named milestone for the profile on msg, with the journey, node and
 * split variant that brought it there, and passes msg on.
 */
import { recordMilestone } from '../../lib/index.js';
import { codedError, journeyOf, profileIdOf } from '../shared/input.js';
import { registerNode, type Node, type NodeAPI, type NodeDef } from '../shared/red.js';
import { useStore } from '../shared/store-user.js';

interface TrackDef extends NodeDef {
  store?: string;
  milestone?: string;
}

export = function (RED: NodeAPI): void {
  function TrackNode(this: Node, def: TrackDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const configured = def.milestone?.trim() || undefined;

    useStore(RED, node, def.store, { textKey: 'track.status.counts', keys: ['tracked'], kept: true }, (user) => async (msg, send) => {
      const name = configured ?? (typeof msg.milestone === 'string' ? msg.milestone : undefined);
      if (!name) throw codedError(RED._('track.errors.no-milestone'), 'NO_MILESTONE');
      const profileId = profileIdOf(msg);
      if (!profileId) throw codedError(RED._('track.errors.no-profile'), 'NO_PROFILE');
      const journey = journeyOf(msg);
      const recorded = await recordMilestone(
        await user.store(),
        {
          name,
          profileId,
          node: node.id,
          ...(journey.name !== null ? { journey: journey.name } : {}),
          ...(journey.variant !== null ? { variant: journey.variant } : {}),
          at: new Date(),
        },
        // One milestone per journey instance at this node, however often its msg is sent again
        // (a retry, an audience run resumed after a crash); outside a journey, per msg.
        journey.instanceId !== null ? `${node.id}:${journey.instanceId}` : `${node.id}:${profileId}:${msg._msgid}`,
      );
      if (recorded) user.badge.bump('tracked');
      send(msg);
    });
  }

  registerNode(RED, 'track', TrackNode);
};
