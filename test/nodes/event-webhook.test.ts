/**
 * event-in's signed webhook in a real Node-RED runtime (node-red-node-test-helper), with
 * requests over real HTTP to the runtime's own HTTP app: signed events are taken and go on
 * through the flow; forged, stale, unsigned, oversized and invalid ones are refused, each
 * with its status, and nothing is stored for them. Above its busy limit the node refuses
 * events, stores nothing and tells the sender to come back.
 */
import { expect } from 'chai';
import type { NodeMessageInFlow } from 'node-red';
import { COLLECTIONS, signWebhook, verifyWebhook, type Profile } from '../../lib/index.js';
import type { JourneyStoreConfigNode } from '../../nodes/shared/store-client.js';
import { collect, coreNode, eventually, helper, journeyNodes, nextMessage, useHttpNodeServer } from '../support/node-red.js';
import { forEachBackend, helperNode, node, tab, useHelperRuntime } from './flows.js';

const SECRET = 'whsec-test-1';

describe('the signed event webhook', function () {
  this.timeout(30_000);
  useHelperRuntime();

  const web = useHttpNodeServer();
  const captureHttp = web.capture;

  it('checks a signature over the timestamp and the raw body, within five minutes', () => {
    const body = Buffer.from('{"name":"x"}');
    const now = new Date('2026-06-01T12:00:00Z');
    const ts = String(now.getTime() / 1000);
    const signature = signWebhook(SECRET, ts, body);
    expect(verifyWebhook(SECRET, signature, ts, body, now)).to.deep.equal({ ok: true });
    expect(verifyWebhook(SECRET, signature, ts, Buffer.from('{"name":"y"}'), now).ok).to.equal(false);
    expect(verifyWebhook('other', signature, ts, body, now).ok).to.equal(false);
    expect(verifyWebhook(SECRET, signature, ts, body, new Date(now.getTime() + 6 * 60_000))).to.deep.include({ ok: false });
    expect(verifyWebhook(SECRET, undefined, ts, body, now)).to.deep.include({ ok: false });
    expect(verifyWebhook('', signature, ts, body, now)).to.deep.include({ ok: false });
  });

  forEachBackend((ctx) => {
    const flow = () => [
      tab(),
      ctx.store.node,
      node('in', 'event-in', { store: 'store', journey: 'orders', trigger: 'order_placed', reentry: 'always', webhook: 'shop' }, [['entered'], ['refused']]),
      helperNode('entered'),
      helperNode('refused'),
    ];
    const load = () => helper.load([...journeyNodes, captureHttp], flow(), { ...ctx.store.credentials, in: { secret: SECRET } });

    async function post(body: string, options: { secret?: string; ts?: number; path?: string; headers?: Record<string, string> } = {}) {
      const ts = String(options.ts ?? Math.floor(Date.now() / 1000));
      const response = await fetch(`${web.url()}${options.path ?? '/journeys/hooks/shop'}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-journeys-timestamp': ts,
          'x-journeys-signature': signWebhook(options.secret ?? SECRET, ts, body),
          ...options.headers,
        },
        body,
      });
      return { status: response.status, headers: response.headers, json: (await response.json()) as Record<string, unknown> };
    }

    it('takes a signed event into the journey, out of output 1, and answers 202 with the profile', async () => {
      await load();
      const entered = nextMessage('entered');
      const answer = await post(JSON.stringify({ name: 'order_placed', userId: 'w-1', properties: { total: 30 }, messageId: 'wh-1' }));
      expect(answer.status).to.equal(202);
      expect(answer.json).to.include({ accepted: true, entered: true });
      const msg: NodeMessageInFlow = await entered;
      expect(msg.profileId).to.equal(answer.json.profileId);
      expect((msg.journey as { name: string }).name).to.equal('orders');
      expect(msg.webhook).to.equal('shop');

      // The same delivery again (senders retry): acknowledged as a duplicate, counted once.
      const again = await post(JSON.stringify({ name: 'order_placed', userId: 'w-1', properties: { total: 30 }, messageId: 'wh-1' }));
      expect({ status: again.status, json: again.json }).to.deep.equal({ status: 200, json: { accepted: false, duplicate: true } });
      // Not a trigger: recorded on the profile, 202, not entered.
      const recorded = await post(JSON.stringify({ name: 'page_viewed', userId: 'w-1', messageId: 'wh-2' }));
      expect(recorded.json).to.include({ accepted: true, entered: false, reason: 'NOT_A_TRIGGER' });
      const store = await (helper.getNode('store') as unknown as JourneyStoreConfigNode).getStore();
      const profile = await store.collection<Profile>(COLLECTIONS.profiles).findOne({ _id: answer.json.profileId as string });
      expect(profile!.aggregates.order_placed?.count).to.equal(1);
      expect(profile!.aggregates.page_viewed?.count).to.equal(1);
    });

    it('refuses forged, stale, unsigned, unknown, oversized and invalid requests, storing nothing', async () => {
      await load();
      const seen = [...collect('entered'), ...collect('refused')];
      const event = JSON.stringify({ name: 'order_placed', userId: 'w-2', messageId: 'wh-3' });
      expect((await post(event, { secret: 'guessed' })).status).to.equal(401);
      expect((await post(event, { ts: Math.floor(Date.now() / 1000) - 3600 })).status).to.equal(401);
      const unsigned = await fetch(`${web.url()}/journeys/hooks/shop`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: event });
      expect(unsigned.status).to.equal(401);
      const unknown = await post(event, { path: '/journeys/hooks/nope' });
      expect(unknown.status).to.equal(401); // the same as a bad signature: names are not revealed
      expect((await post(JSON.stringify({ name: 'x', userId: 'w-2', properties: { blob: 'x'.repeat(70_000) } }))).status).to.equal(413);
      expect((await post('{not json')).json).to.deep.include({ accepted: false });
      const invalid = await post(JSON.stringify({ name: 'order_placed', identities: { email: { $gt: '' } } }));
      expect(invalid.status).to.equal(400);
      expect(invalid.json.error).to.include({ code: 'BAD_IDENTITY' });

      const store = await (helper.getNode('store') as unknown as JourneyStoreConfigNode).getStore();
      expect(await store.collection(COLLECTIONS.profiles).count({})).to.equal(0);
      expect(await store.collection(COLLECTIONS.events).count({})).to.equal(0);
      expect(seen).to.have.length(0);
    });

    it('stops answering for a node that is no longer deployed', async () => {
      await load();
      await helper.unload();
      // The same flow with the webhook name cleared, as a user would change it.
      const [t, store, eventIn, ...rest] = flow();
      await helper.load([...journeyNodes, captureHttp], [t!, store!, { ...eventIn!, webhook: '' }, ...rest], ctx.store.credentials);
      expect((await post(JSON.stringify({ name: 'order_placed', userId: 'w-3' }))).status).to.equal(401);
    });

    it('refuses events while its limit of journey msgs is in flight: 503 with Retry-After, a BUSY msg, nothing stored; takes them again after', async () => {
      const busyFlow = [
        tab(),
        ctx.store.node,
        node('in', 'event-in', { store: 'store', journey: 'orders', reentry: 'always', webhook: 'shop', maxInFlight: 2 }, [['slow'], ['refused']]),
        // Holds each entered msg, so its instance stays in flight for a while.
        node('slow', 'delay', { pauseType: 'delay', timeout: '800', timeoutUnits: 'milliseconds' }, [[]]),
        helperNode('refused'),
      ];
      await helper.load([...journeyNodes, coreNode('function/89-delay.js'), captureHttp], busyFlow, { ...ctx.store.credentials, in: { secret: SECRET } });
      const order = (i: number) => JSON.stringify({ name: 'order_placed', userId: `busy-${i}`, messageId: `busy-${i}` });
      expect((await post(order(1))).status).to.equal(202);
      expect((await post(order(2))).status).to.equal(202);

      const busy = await post(order(3));
      expect(busy.status).to.equal(503);
      expect(busy.headers.get('retry-after')).to.equal('1');
      expect(busy.json.error).to.include({ code: 'BUSY' });

      const refused = nextMessage('refused');
      helper.getNode('in').receive({ payload: JSON.parse(order(4)) });
      const msg = (await refused) as NodeMessageInFlow & { error: { code: string }; statusCode: number; headers: Record<string, string> };
      expect(msg.error.code).to.equal('BUSY');
      expect([msg.statusCode, msg.headers['Retry-After']]).to.deep.equal([503, '1']);
      // Two refusals, one warning: under overload the log is not flooded.
      const warnings = (helper.log().args as Array<[{ id?: string; level?: number; msg?: unknown }]>).filter(([e]) => e.id === 'in' && e.level === 30).map(([e]) => String(e.msg));
      expect(warnings).to.deep.equal(['event-in.errors.busy']);

      const store = await (helper.getNode('store') as unknown as JourneyStoreConfigNode).getStore();
      const profiles = store.collection<Profile>(COLLECTIONS.profiles);
      expect(await profiles.count({ 'identities.userId': { $in: ['busy-3', 'busy-4'] } }), 'profiles stored for refused events').to.equal(0);

      // Once the held msgs have left the flow, the same event is taken.
      const again = await eventually(async () => {
        const answer = await post(order(3));
        return answer.status === 202 ? answer : undefined;
      }, 10_000, 'the node to take events again');
      expect(again.json).to.include({ accepted: true, entered: true });
      expect(await profiles.count({ 'identities.userId': 'busy-3' })).to.equal(1);
    });
  });
});
