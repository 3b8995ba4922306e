/**
 * segment: who matches a set of rules over profile traits, consent and behaviour.
 * - Profile mode: checks the msg's profile (read fresh from the store) and routes the msg
 *   to `in` or `out`.
 * - Audience mode: any msg starts a run that enrols every matching profile into the
 *   node's journey, one msg each, paced and resumable (lib/segments/audience.ts).
 * Rules come from the node, or from msg.segment, checked the same way either way.
 * Also serves the editor: POST journeys/segment/check and journeys/segment/count.
 */
import {
  checkSegmentRules,
  compileSegment,
  COLLECTIONS,
  describeSegment,
  findLiveProfile,
  ownerName,
  profileMatches,
  recordStep,
  resumeRun,
  startRun,
  stopRun,
  LEASE_MS,
  type AudienceRunDoc,
  type AudienceRunner,
  type Profile,
  type ReentryPolicy,
  type RunListener,
  type RunSummary,
  type SegmentRules,
  type Store,
} from '../../lib/index.js';
import { codedError, journeyOf, profileIdOf } from '../shared/input.js';
import { defineJourney, reentryPolicy, type JourneyEntryDef } from '../shared/journey-entry.js';
import { registerNode, type Node, type NodeAPI, type NodeDef, type NodeMessage } from '../shared/red.js';
import { findStoreConfig } from '../shared/store-client.js';
import { useStore } from '../shared/store-user.js';
import type { Request, Response } from 'express';

interface SegmentDef extends NodeDef, JourneyEntryDef {
  store?: string;
  mode?: string;
  rules?: unknown;
  journey?: string;
  rate?: number | string;
}

/** A flow written by hand may hold the rules as JSON text. */
function parseRules(value: unknown): unknown {
  if (typeof value !== 'string') return value ?? { match: 'all', rules: [] };
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return value;
  }
}

export = function (RED: NodeAPI): void {
  function SegmentNode(this: Node, def: SegmentDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const fail = (reason: string) => {
      node.error(RED._('segment.errors.bad-config', { reason }));
      node.status({ fill: 'red', shape: 'ring', text: RED._('segment.status.bad-config') });
    };
    const checked = checkSegmentRules(parseRules(def.rules));
    if (!checked.ok) return fail(checked.reason);
    const nodeRules = checked.value;

    /** The node's rules, or msg.segment's once they pass the same check. */
    const rulesFor = (msg: NodeMessage): SegmentRules => {
      const fromMsg = (msg as { segment?: unknown }).segment;
      if (fromMsg === undefined) return nodeRules;
      const own = checkSegmentRules(fromMsg);
      if (!own.ok) throw codedError(RED._('segment.errors.bad-msg-rules', { reason: own.reason }), own.code);
      return own.value;
    };

    if (def.mode === 'audience') {
      const journey = def.journey?.trim();
      if (!journey) return fail(RED._('segment.errors.no-journey'));
      defineJourney(node, journey, def);
      const rate = Math.max(0, Number(def.rate) || 0);
      audienceMode(node, def.store, { journey, rate, rulesFor, policy: reentryPolicy(def) });
      return;
    }
    profileMode(node, def.store, rulesFor);
  }

  function profileMode(node: Node, storeId: string | undefined, rulesFor: (msg: NodeMessage) => SegmentRules): void {
    const badge = { textKey: 'segment.status.profile-counts', keys: ['in', 'out'] as const, kept: true };
    useStore(RED, node, storeId, badge, (user) => async (msg, send) => {
      const rules = rulesFor(msg);
      const asked = profileIdOf(msg);
      if (!asked) throw codedError(RED._('segment.errors.no-profile'), 'NO_PROFILE');
      const store = await user.store();
      const profile = await findLiveProfile(store, asked);
      if (!profile) throw codedError(RED._('segment.errors.unknown-profile', { id: asked }), 'UNKNOWN_PROFILE');
      const now = new Date();
      const { instanceId } = journeyOf(msg);
      if (instanceId !== null && !(await recordStep(store, instanceId, node.id, now))) {
        node.warn(RED._('segment.errors.not-active', { instance: instanceId }));
        return;
      }
      msg.profile = profile;
      msg.profileId = profile._id;
      const matched = profileMatches(profile, rules, now);
      user.badge.bump(matched ? 'in' : 'out');
      send(matched ? [msg, null] : [null, msg]);
    });
  }

  interface AudienceSettings {
    journey: string;
    rate: number;
    policy: ReentryPolicy;
    rulesFor(msg: NodeMessage): SegmentRules;
  }

  function audienceMode(node: Node, storeId: string | undefined, settings: AudienceSettings): void {
    const owner = ownerName();
    let runner: AudienceRunner | null = null;
    let closing = false;
    const badge = { textKey: 'segment.status.audience-running', keys: ['entered', 'refused'] as const, warnKey: 'refused' as const };

    useStore(RED, node, storeId, badge, (user) => {
      const showRun = (run: Pick<AudienceRunDoc, 'status' | 'entered' | 'refused'>) =>
        user.badge.show(`segment.status.audience-${run.status}`, { entered: run.entered, refused: run.refused });
      const listener: RunListener = {
        entered(profile, instance, run) {
          user.config.followInstance(instance._id);
          node.send([audienceMsg(profile, run, { name: run.journey, instanceId: instance._id }), null, null]);
        },
        refused(profile, reason, run) {
          const msg = audienceMsg(profile, run, { name: run.journey });
          msg.error = { code: 'NOT_REENTRANT', message: reason, source: { id: node.id, type: 'segment' } };
          node.send([null, msg, null]);
        },
        progress: showRun,
        finished(summary: RunSummary) {
          showRun(summary);
          if (summary.status === 'failed') {
            node.error(
              RED._('segment.errors.run-failed', { run: summary.runId, entered: summary.entered, reason: summary.error ?? '' }),
              { payload: summary },
            );
          }
          node.send([null, null, { _msgid: RED.util.generateId(), topic: 'audience', payload: summary }]);
        },
      };
      const adopt = (taken: AudienceRunner) => {
        runner = taken;
        showRun(taken.current);
        void taken.finished().then(() => {
          if (runner === taken) runner = null;
        });
      };
      // Take over this node's unfinished run: after a restart, a redeploy or another process's crash.
      const tryResume = async () => {
        if (runner || closing) return;
        const resumed = await resumeRun(await user.store(), node.id, owner, listener);
        if (resumed && !closing) adopt(resumed);
        else if (resumed) await resumed.release();
      };
      const resumeQuietly = () => void tryResume().catch((err: Error) => node.warn(err.message));
      resumeQuietly();
      const poll = setInterval(resumeQuietly, LEASE_MS / 2);

      return {
        input: async (msg) => {
          const store = await user.store();
          if ((msg as { stop?: unknown }).stop === true) {
            if (runner) await runner.stop();
            else await stopRun(store, node.id);
            return;
          }
          const rules = settings.rulesFor(msg);
          if (runner) throw codedError(RED._('segment.errors.run-in-progress', { run: runner.runId }), 'RUN_IN_PROGRESS');
          const started = await startRun(
            store,
            {
              node: node.id,
              journey: settings.journey,
              rules,
              policy: settings.policy,
              rate: settings.rate,
              ...(typeof msg.topic === 'string' ? { topic: msg.topic } : {}),
            },
            owner,
            listener,
          );
          if (started.status === 'busy') throw codedError(RED._('segment.errors.run-in-progress', { run: started.runId }), 'RUN_IN_PROGRESS');
          adopt(started.run);
        },
        async close(removed: boolean) {
          closing = true;
          clearInterval(poll);
          const current = runner;
          // Removed: the campaign is over. Redeployed or shutting down: the run goes on after the restart.
          if (current) await (removed ? current.stop() : current.release());
          if (removed && !current) await stopRun(await user.store(), node.id);
        },
      };
    });
  }

  function audienceMsg(profile: Profile, run: AudienceRunDoc, journey: { name: string; instanceId?: string }): NodeMessage {
    return {
      _msgid: RED.util.generateId(),
      ...(run.topic === undefined ? {} : { topic: run.topic }),
      payload: profile._id,
      profile,
      profileId: profile._id,
      journey,
      audience: { runId: run.runId },
    } as NodeMessage;
  }

  registerNode(RED, 'segment', SegmentNode);
  registerEditorEndpoints(RED);
};

/** The rule builder's live description and audience count. */
function registerEditorEndpoints(RED: NodeAPI): void {
  const permission = RED.auth.needsPermission('segment.read');
  RED.httpAdmin.post('/journeys/segment/check', permission, (req: Request, res: Response) => {
    const checked = checkSegmentRules((req.body as { rules?: unknown } | undefined)?.rules);
    res.json(checked.ok ? { ok: true, description: describeSegment(checked.value) } : { ok: false, reason: checked.reason });
  });
  RED.httpAdmin.post('/journeys/segment/count', permission, (req: Request, res: Response) => {
    const body = (req.body ?? {}) as { rules?: unknown; store?: unknown };
    const checked = checkSegmentRules(body.rules);
    if (!checked.ok) return void res.status(400).json({ error: checked.reason });
    const config = findStoreConfig(RED, typeof body.store === 'string' ? body.store : undefined);
    if (!config) return void res.status(404).json({ error: RED._('segment.errors.store-not-deployed') });
    void config
      .getStore()
      .then((store: Store) => store.collection(COLLECTIONS.profiles).count(compileSegment(checked.value, new Date())))
      .then(
        (count) => res.json({ count }),
        (err: Error) => res.status(503).json({ error: err.message }),
      );
  });
}
