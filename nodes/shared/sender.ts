/**
 * What send-email, send-sms and send-push share: settings for consent, the frequency cap
 * and quiet hours; the account (or the outbox when there is none); one send per msg through
 * lib/'s `send`; quiet-hours deferral as a durable wait of the journey instance; the
 * recovery sweep; outputs (sent; not sent with msg.delivery.reason) and the badge.
 */
import {
  capProblem,
  OUTBOX_PROVIDER,
  Outbox,
  quietHoursProblem,
  recordStep,
  send,
  summarise,
  UNIT_MS,
  type ChannelName,
  type ChannelSpec,
  type ConsentMode,
  type Delivery,
  type DeliverySummary,
  type NotSentReason,
  type Provider,
  type Resumed,
  type SendPolicy,
  type TemplateKind,
  type TemplateSet,
} from '../../lib/index.js';
import { resumedMessage, snapshotOf } from './hold.js';
import { codedError, journeyOf, profileIdOf, setOnJourney } from './input.js';
import type { Node, NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow, Send } from './red.js';
import { useStore, type StoreUser } from './store-user.js';

/** An account config node (email-account, twilio-account, fcm-account). */
export interface AccountNode extends Node {
  /** The provider, or a reason it cannot be made (missing credentials...). */
  provider(): Provider | Error;
}

export interface SenderDef extends NodeDef {
  store?: string;
  account?: string;
  consent?: ConsentMode;
  cap?: boolean;
  capMax?: number | string;
  capPeriod?: number | string;
  capUnit?: string;
  quiet?: boolean;
  quietStart?: string;
  quietEnd?: string;
  defaultZone?: string;
}

export interface SenderParts<F extends string> {
  channel: ChannelName;
  /** The templates from the node's settings; throws a TemplateError for a bad one. */
  templates: () => TemplateSet<F>;
  /** The channel's addresses and finishing, given the store user (for the link key and the public URL). */
  channelSpec: (user: StoreUser<BadgeKey>) => ChannelSpec<F>;
}

export type BadgeKey = 'sent' | 'skipped' | 'failed';

/**
 * How long a closing sender waits for its providers' answers before it gives them up: short
 * of the journey-store's 10 s wait for its users, so the outcome of a send given up (and its
 * count) is written while the store is still there; otherwise it stays `sending` until the
 * next start's sweep.
 */
const CLOSE_GRACE_MS = 8_000;

/** How often a sender looks for deliveries a stopped process left behind. */
const RECOVERY_EVERY_MS = 15_000;

export type Sources<F extends string> = Record<F, { source: string; kind: TemplateKind }>;

export function policyOf(def: SenderDef): SendPolicy {
  const policy: SendPolicy = { consent: def.consent === 'opt-out' ? 'opt-out' : 'opt-in' };
  if (def.cap) {
    const unit = def.capUnit === 'hours' ? 'hours' : 'days';
    policy.cap = { max: Number(def.capMax ?? 3), windowMs: Number(def.capPeriod ?? 7) * UNIT_MS[unit] };
    const problem = capProblem(policy.cap);
    if (problem) throw new Error(problem);
  }
  if (def.quiet) {
    const quiet = { start: def.quietStart?.trim() || '21:00', end: def.quietEnd?.trim() || '08:00', defaultZone: def.defaultZone?.trim() || 'UTC' };
    const problem = quietHoursProblem(quiet);
    if (problem) throw new Error(problem);
    policy.quietHours = quiet;
  }
  return policy;
}

/** msg keys a template must not see: live HTTP objects. */
const UNSEEN = new Set(['req', 'res']);

export function defineSender<F extends string>(RED: NodeAPI, node: Node, def: SenderDef, parts: SenderParts<F>): void {
  const prefix = 'journeys.send';
  const fail = (reason: string) => {
    node.error(RED._(`${prefix}.errors.bad-config`, { reason }));
    node.status({ fill: 'red', shape: 'ring', text: RED._(`${prefix}.status.bad-config`) });
  };
  let policy: SendPolicy;
  let templates: TemplateSet<F>;
  try {
    policy = policyOf(def);
    templates = parts.templates();
  } catch (err) {
    fail((err as Error).message);
    return;
  }
  let provider: Provider = OUTBOX_PROVIDER;
  if (def.account) {
    const account = RED.nodes.getNode(def.account) as AccountNode | null;
    const made = account && typeof account.provider === 'function' ? account.provider() : new Error(RED._(`${prefix}.errors.missing-account`));
    if (made instanceof Error) {
      fail(made.message);
      return;
    }
    provider = made;
  }
  // Registered before useStore's own close handler, so retry back-offs stop before it waits
  // for in-flight msgs. A provider that does not answer is given up on in time for the close
  // to end within Node-RED's limit (15 s): those sends end unknown-outcome.
  const closing = new AbortController();
  const abandon = new AbortController();
  let abandonTimer: NodeJS.Timeout | undefined;
  node.on('close', () => {
    closing.abort();
    abandonTimer = setTimeout(() => abandon.abort(), CLOSE_GRACE_MS);
    // A node that never got its store has no close part to clear it: it must not hold the process open.
    abandonTimer.unref();
  });
  const deliverOptions = { signal: closing.signal, abandon: abandon.signal };
  const unsent = (reason: NotSentReason, detail: string): DeliverySummary => ({
    id: '',
    channel: parts.channel,
    status: 'skipped',
    reason,
    detail,
    to: [],
    outbox: provider.outbox,
    variant: null,
    attempts: 0,
  });

  useStore(RED, node, def.store, { textKey: `${prefix}.status.${provider.outbox ? 'outbox-counts' : 'counts'}`, keys: ['sent', 'skipped', 'failed'], warnKey: 'failed', kept: true }, (user) => {
    const spec = parts.channelSpec(user);

    /** Sends for one msg; returns what to put out, or nothing when the msg is held for quiet hours. */
    const sendFor = async (msg: NodeMessage, resumed = false): Promise<{ out: Array<NodeMessage | null>; error?: Error } | null> => {
      const profileId = profileIdOf(msg);
      if (!profileId) throw codedError(RED._(`${prefix}.errors.no-profile`), 'NO_PROFILE');
      const journey = journeyOf(msg);
      const instanceId = journey.instanceId;
      const store = await user.store();
      const now = new Date();
      const pass = journey.passes[node.id] ?? 0;
      const seen: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(msg)) if (!UNSEEN.has(k)) seen[k] = v;
      const outcome = await send(store, {
        spec,
        node: node.id,
        provider,
        templates,
        // A send resumed when quiet hours ended is not held again by a clock at the boundary.
        policy: resumed ? { ...policy, quietHours: undefined } : policy,
        profileId,
        instanceId,
        journey: journey.name,
        variant: journey.variant,
        msgId: msg._msgid ?? RED.util.generateId(),
        pass,
        scope: { event: (msg as { event?: unknown }).event ?? null, journey: msg.journey ?? null, msg: seen },
        now,
        deliver: deliverOptions,
      });
      // Counted on the msg that goes on, so a loop back to this node is a new message and a
      // replay from a point before it (a resume, a retry) is the same one. A held msg has not passed.
      if (outcome.kind !== 'deferred') setOnJourney(msg, { passes: { ...journey.passes, [node.id]: pass + 1 } });
      const notSent = (summary: DeliverySummary, error?: Error) => {
        msg.delivery = summary;
        return { out: [null, msg], ...(error ? { error } : {}) };
      };
      switch (outcome.kind) {
        case 'no-profile':
          user.badge.bump('skipped');
          return notSent(unsent('no-profile', outcome.detail), codedError(RED._(`${prefix}.errors.unknown-profile`, { profile: profileId }), 'UNKNOWN_PROFILE'));
        case 'duplicate':
          // Sent again after its process died: the flow gets the first outcome, as it would have then.
          if (journey.resumed) {
            // A send the dead process left undecided is decided first, so the flow goes on the way it went.
            const settled = await new Outbox(await user.store()).outcome(outcome.delivery._id, provider, deliverOptions);
            return finished(settled ?? outcome.delivery, msg, instanceId, notSent, true);
          }
          user.badge.bump('skipped');
          return notSent({ ...summarise(outcome.delivery), reason: 'duplicate', detail: RED._(`${prefix}.reasons.duplicate`, { status: outcome.delivery.status }) });
        case 'deferred': {
          if (!instanceId) {
            user.badge.bump('skipped');
            return notSent({ ...unsent('quiet-hours', RED._(`${prefix}.reasons.quiet-no-instance`)), notBefore: outcome.until });
          }
          const waits = await user.config.getWaits();
          const parked = await waits.wait({ instanceId, node: node.id, snapshot: snapshotOf(msg as NodeMessageInFlow), until: outcome.until });
          if (!parked) node.warn(RED._(`${prefix}.errors.not-active`, { instance: instanceId }));
          return null;
        }
        case 'done':
          return finished(outcome.delivery, msg, instanceId, notSent);
      }
    };

    const finished = async (
      delivery: Delivery,
      msg: NodeMessage,
      instanceId: string | null,
      notSent: (s: DeliverySummary, e?: Error) => { out: Array<NodeMessage | null>; error?: Error },
      /** The outcome of an earlier pass, given again to a resumed msg: its step and count were recorded then. */
      replayed = false,
    ) => {
      const bump = (key: BadgeKey) => (replayed ? undefined : user.badge.bump(key));
      if (instanceId && !replayed) await recordStep(await user.store(), instanceId, node.id, new Date());
      if (delivery.status === 'sent') {
        bump('sent');
        msg.delivery = summarise(delivery);
        return { out: [msg, null] };
      }
      if (delivery.status === 'skipped') {
        bump('skipped');
        return notSent(summarise(delivery));
      }
      // Failed (or left queued by a close): the flow gets it on output 2 and Catch nodes see why.
      bump(delivery.status === 'failed' ? 'failed' : 'skipped');
      const code = delivery.reason === 'template-error' ? 'TEMPLATE' : (delivery.error?.code ?? 'NOT_SENT');
      return notSent(summarise(delivery), codedError(RED._(`${prefix}.errors.not-sent`, { reason: delivery.reason ?? delivery.status, detail: delivery.detail ?? '' }), code));
    };

    const emit = (send: Send, result: { out: Array<NodeMessage | null>; error?: Error } | null) => {
      if (!result) return;
      send(result.out);
      if (result.error) throw result.error;
    };

    const onResume = async ({ instance, snapshot }: Resumed) => {
      const msg = await resumedMessage(RED, await user.store(), instance, snapshot);
      user.config.followInstance(instance._id);
      try {
        emit((out) => node.send(out as NodeMessage[]), await sendFor(msg, true));
      } catch (err) {
        node.error(err, msg);
      }
    };
    const forget = user.config.onResume(node.id, onResume);

    // Deliveries a stopped process left behind: sent now if they never reached the provider.
    // One sweep at a time: behind a slow provider a sweep can outlast the interval.
    let sweeping: Promise<void> | null = null;
    const recover = () => (sweeping ??= sweepOnce().finally(() => (sweeping = null)));
    const sweepOnce = () =>
      user
        .store()
        .then((store) => new Outbox(store).recover(node.id, provider, deliverOptions))
        .then(({ resent, unknown }) => {
          if (resent > 0) user.badge.bump('sent', resent);
          if (unknown > 0) {
            user.badge.bump('failed', unknown);
            node.warn(RED._(`${prefix}.errors.unknown-outcome`, { count: unknown }));
          }
        })
        .catch((err: Error) => node.warn(RED._(`${prefix}.errors.recovery-failed`, { message: err.message })));
    // The scheduler starts with the flow, so quiet-hour sends that fell due while it was down go out now.
    user.config.getWaits().catch((err: Error) => node.error(err.message));
    const sweep = setInterval(() => void recover(), RECOVERY_EVERY_MS);
    void recover();

    return {
      input: async (msg: NodeMessageInFlow, sendOut: Send) => emit(sendOut, await sendFor(msg)),
      close: async (removed: boolean) => {
        clearTimeout(abandonTimer);
        clearInterval(sweep);
        forget();
        if (removed) await (await user.config.getWaits()).endWaitingAt(node.id, RED._(`${prefix}.reasons.removed`, { node: node.id }));
      },
    };
  });
}

