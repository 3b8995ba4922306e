/**
 * wait: holds a journey instance until a duration has passed, a date (from msg or the
 * profile) has come, the next local time of day in the profile's time zone, or an event
 * arrives for the profile (with a timeout). The msg is kept in the store, not in memory,
 * and the timer is an Agenda job: waits survive restarts and fire once across processes.
 * Output 1: continue (or the event arrived); output 2: timed out.
 */
import { afterDuration, isDurationUnit, isTimeZone, nextTimeOfDay, parseDate, type DurationUnit, type Resumed } from '../../lib/index.js';
import { resumedMessage, snapshotOf } from '../shared/hold.js';
import { codedError, journeyOf } from '../shared/input.js';
import { redUtil, registerNode, type Node, type NodeAPI, type NodeDef, type NodeMessageInFlow } from '../shared/red.js';
import { useStore } from '../shared/store-user.js';

type Mode = 'duration' | 'until' | 'timeOfDay' | 'event';

interface WaitDef extends NodeDef {
  store?: string;
  mode?: Mode;
  amount?: number | string;
  unit?: string;
  untilProperty?: string;
  time?: string;
  zoneProperty?: string;
  defaultZone?: string;
  event?: string;
  timeout?: number | string;
  timeoutUnit?: string;
}

export = function (RED: NodeAPI): void {
  function WaitNode(this: Node, def: WaitDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const util = redUtil(RED);
    const mode: Mode = def.mode ?? 'duration';
    const unit: DurationUnit = isDurationUnit(def.unit) ? def.unit : 'minutes';
    const timeoutUnit: DurationUnit = isDurationUnit(def.timeoutUnit) ? def.timeoutUnit : 'hours';
    const defaultZone = def.defaultZone?.trim() || 'UTC';
    if (!isTimeZone(defaultZone)) {
      node.error(RED._('wait.errors.bad-zone', { zone: defaultZone }));
      return;
    }

    function deadline(msg: NodeMessageInFlow, now: Date): Date {
      switch (mode) {
        case 'until': {
          const raw = util.getMessageProperty(msg, def.untilProperty?.trim() || 'payload.until');
          const at = parseDate(raw);
          if (!at) throw codedError(RED._('wait.errors.bad-date', { property: def.untilProperty ?? 'payload.until' }), 'BAD_DATE');
          return at;
        }
        case 'timeOfDay': {
          const zoneValue = util.getMessageProperty(msg, def.zoneProperty?.trim() || 'profile.traits.timezone');
          const zone = typeof zoneValue === 'string' && isTimeZone(zoneValue) ? zoneValue : defaultZone;
          return nextTimeOfDay(now, def.time?.trim() || '09:00', zone);
        }
        case 'event':
          return afterDuration(now, Number(def.timeout ?? 24), timeoutUnit);
        default:
          return afterDuration(now, Number(def.amount ?? 1), unit);
      }
    }

    let refresh: NodeJS.Timeout | null = null;
    useStore(RED, node, def.store, { textKey: 'wait.status.counts', keys: ['waiting'] }, (user) => {
      const showWaiting = () => {
        refresh ??= setTimeout(() => {
          refresh = null;
          void user.config
            .getWaits()
            .then((w) => w.countWaiting(node.id))
            .then((n) => node.status({ fill: 'blue', shape: n > 0 ? 'dot' : 'ring', text: RED._('wait.status.waiting', { count: n.toLocaleString('en-US') }) }))
            .catch(() => undefined);
        }, 250);
      };

      const onResume = async ({ instance, snapshot, outcome, event }: Resumed) => {
        const msg = await resumedMessage(RED, await user.store(), instance, snapshot);
        if (event) msg.waitEvent = event;
        user.config.followInstance(instance._id);
        node.send(outcome === 'timeout' ? [null, msg] : [msg, null]);
        showWaiting();
      };
      const forget = user.config.onResume(node.id, onResume);
      // Start the scheduler with the flow, so waits that fell due while it was down fire now.
      user.config.getWaits().then(showWaiting, (err: Error) => node.error(err.message));
      // Instances also stop waiting elsewhere (a goal, an exit, another process): look again now and then.
      const recount = setInterval(showWaiting, 30_000);

      const close = async (removed: boolean) => {
        forget();
        clearInterval(recount);
        if (refresh) clearTimeout(refresh);
        refresh = null;
        // Removed from the flow: its waiting instances end with a reason instead of firing into nothing.
        if (removed) await (await user.config.getWaits()).endWaitingAt(node.id, RED._('wait.reasons.removed', { node: node.id }));
      };

      const input = async (msg: NodeMessageInFlow) => {
        const { instanceId } = journeyOf(msg);
        if (instanceId === null) throw codedError(RED._('wait.errors.no-instance'), 'NO_INSTANCE');
        const now = new Date();
        const until = deadline(msg, now);
        const waits = await user.config.getWaits();
        const parked = await waits.wait({
          instanceId,
          node: node.id,
          snapshot: snapshotOf(msg),
          until,
          ...(mode === 'event' ? { forEvent: def.event?.trim() || 'purchase' } : {}),
        });
        if (!parked) node.warn(RED._('wait.errors.not-active', { instance: instanceId }));
        showWaiting();
      };
      return { input, close };
    });
  }

  registerNode(RED, 'wait', WaitNode);
};
