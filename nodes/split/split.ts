/**
 * split (type `journey-split`): sends each profile down one branch of a weighted A/B/n
 * split — the same branch on every pass (a stable hash of profile, journey and node) or a
 * fresh random draw — or holds it out of the journey as the control group. The variant is
 * recorded on the journey instance and put on msg.journey.variant, where track and the
 * senders read it.
 * Outputs: one per branch, in the editor's order, then `holdout` when a holdout is set.
 */
import { assignVariant, checkSplit, holdOut, HOLDOUT_VARIANT, recordStep, type Split } from '../../lib/index.js';
import { codedError, journeyOf, profileIdOf, setOnJourney } from '../shared/input.js';
import { registerNode, type Node, type NodeAPI, type NodeDef, type NodeMessage } from '../shared/red.js';
import { useStore } from '../shared/store-user.js';

interface SplitDef extends NodeDef {
  store?: string;
  mode?: string;
  branches?: Array<{ name?: unknown; weight?: unknown } | null>;
  holdout?: number | string;
}

/** The editor saves numbers, but a flow written by hand may hold "50". */
const numeric = (value: unknown): unknown => (typeof value === 'string' && value.trim() !== '' ? Number(value) : value);

export = function (RED: NodeAPI): void {
  function SplitNode(this: Node, def: SplitDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    let split: Split;
    try {
      split = checkSplit({
        mode: def.mode,
        branches: (def.branches ?? []).map((b) => ({ name: b?.name, weight: numeric(b?.weight) })),
        holdoutPercent: numeric(def.holdout ?? 0),
      });
    } catch (err) {
      node.error(RED._('split.errors.bad-config', { reason: (err as Error).message }));
      node.status({ fill: 'red', shape: 'ring', text: RED._('split.status.bad-config') });
      return;
    }
    const ports: string[] = split.branches.map((b) => b.name);
    if (split.holdoutPercent > 0) ports.push(HOLDOUT_VARIANT);
    // The badge names the user's own branches and the recorded `holdout` variant: nothing in it to translate.
    const render = (counts: Record<string, string>) => ports.map((p) => `${p} ${counts[p]}`).join(' · ');

    useStore(RED, node, def.store, { textKey: 'split.status.counts', keys: ports, render, kept: true }, (user) => async (msg, send) => {
      const profileId = profileIdOf(msg);
      if (!profileId) throw codedError(RED._('split.errors.no-profile'), 'NO_PROFILE');
      const journey = journeyOf(msg);
      const assignment = assignVariant(split, {
        profileId,
        journey: journey.name ?? '',
        node: node.id,
      });
      // Outside a journey there is no instance to record on: the msg is still split by profile.
      if (journey.instanceId !== null) {
        const store = await user.store();
        const at = new Date();
        const recorded = assignment.held
          ? await holdOut(store, journey.instanceId, node.id, at)
          : await recordStep(store, journey.instanceId, node.id, at, assignment.variant);
        if (!recorded) {
          // Ended meanwhile (an exit or goal event): like wait, send nothing on for it.
          node.warn(RED._('split.errors.not-active', { instance: journey.instanceId }));
          return;
        }
      }
      setOnJourney(msg, { variant: assignment.variant });
      user.badge.bump(assignment.variant);
      const out: Array<NodeMessage | null> = ports.map(() => null);
      out[assignment.held ? ports.length - 1 : assignment.branch] = msg;
      send(out);
    });
  }

  // Node-RED's core already has a `split` (the sequence node): this one registers under its own type.
  registerNode(RED, 'journey-split', SplitNode);
};
