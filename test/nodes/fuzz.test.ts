/**
 * Hostile input, generated: 10,000 events (1,000 on MongoDB) from fast-check thrown at
 * event-in -> profile-merge in a real Node-RED runtime (node-red-node-test-helper) — wrong
 * types, deep nesting, huge strings and arrays, `__proto__` / `constructor` keys, `$`
 * operators and dotted keys in every position, lone surrogates, bad dates, identities shared
 * between events so profiles stitch. Every one must end accepted (merged) or refused with a
 * reason (event-in's second output, or an error a Catch node sees); none may crash the
 * runtime, pollute a prototype, store a key MongoDB would read as an operator or a path, or
 * change the profile of a person the event does not name.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import type { NodeMessageInFlow } from 'node-red';
import { COLLECTIONS, type Profile } from '../../lib/index.js';
import type { JourneyStoreConfigNode } from '../../nodes/shared/store-client.js';
import { coreNode, helper, journeyNodes } from '../support/node-red.js';
import { catchAll, forEachBackend, helperNode, node, tab, useHelperRuntime } from './flows.js';

const catchNode = coreNode('common/25-catch.js');

const HOSTILE_KEYS = ['__proto__', 'constructor', 'prototype', '$where', '$gt', '$set', '$expr', 'a.b', '.', '$', '', 'toString', 'hasOwnProperty', 'valueOf'];
const key = fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom(...HOSTILE_KEYS), fc.string({ unit: 'grapheme', maxLength: 4 }), fc.string({ unit: 'binary', maxLength: 4 }));
const leaf = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 12 }), // lone surrogates and other odd code units
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.date({ noInvalidDate: false }),
  fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, -0, '2026-13-45T99:00:00Z', 'yesterday', ''),
);
const { value } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, fc.array(tie('value'), { maxLength: 4 }), fc.dictionary(key, tie('value'), { maxKeys: 4 })),
}));
/** A few people, so that generated events name the same ones and profiles get stitched. */
const identityValue = fc.oneof(
  fc.constantFrom('u-1', 'u-2', 'u-3', 'ada@example.com', 'bob@example.com', '+15551230001', 'anon-1', 'anon-2', 'tok-1'),
  fc.string({ maxLength: 8 }),
  value,
);
const identities = fc.dictionary(fc.oneof(fc.constantFrom('userId', 'email', 'phone', 'anonymousId', 'deviceToken'), key), identityValue, { maxKeys: 3 });
const deep = fc.integer({ min: 9, max: 40 }).map((depth) => JSON.parse('{"a":'.repeat(depth) + '1' + '}'.repeat(depth)) as unknown);
const huge = fc.constantFrom<unknown>('x'.repeat(70_000), { blob: 'y'.repeat(20_000) }, new Array(2_000).fill(1), Object.fromEntries(Array.from({ length: 1_200 }, (_, i) => [`k${i}`, i])));
const polluting = fc.constantFrom<unknown>(
  JSON.parse('{"__proto__":{"polluted":"yes"}}'),
  JSON.parse('{"constructor":{"prototype":{"polluted":"yes"}}}'),
  JSON.parse('{"a":{"__proto__":{"polluted":"yes"}}}'),
);
const event = fc.record(
  {
    name: fc.oneof(fc.constantFrom('signed_up', 'page_viewed', 'purchase'), fc.string({ maxLength: 12 }), fc.constantFrom(...HOSTILE_KEYS), value),
    identities: fc.oneof(identities, value, polluting),
    userId: identityValue,
    email: identityValue,
    properties: fc.oneof(value, polluting, deep, huge),
    traits: fc.oneof(fc.dictionary(fc.oneof(fc.constantFrom('plan', 'visits', 'interests', 'email', 'timezone'), key), value, { maxKeys: 4 }), value, polluting, deep, huge),
    consent: fc.oneof(fc.dictionary(fc.constantFrom('email', 'sms', 'push', '$set', 'a.b', '__proto__'), fc.oneof(fc.boolean(), fc.constantFrom('granted', 'denied'), value), { maxKeys: 3 }), value, polluting),
    timestamp: fc.oneof(fc.date({ noInvalidDate: false }), fc.string({ maxLength: 30 }), fc.integer(), value),
    messageId: fc.oneof(fc.uuid(), fc.string({ maxLength: 20 }), value),
  },
  { requiredKeys: [] },
);
 /** Events a real sender might send, with one field now and then gone wrong: most should be taken. */
const plausible = fc.record({
  name: fc.constantFrom('signed_up', 'page_viewed', 'purchase', 'cart_add'),
  identities: fc.record({ email: fc.constantFrom('ada@example.com', 'bob@example.com', 'cy@example.com') }, { requiredKeys: [] }).chain((ids) =>
    fc.record({ anonymousId: fc.constantFrom('anon-1', 'anon-2', 'anon-3') }).map((anon) => (Object.keys(ids).length ? { ...ids, ...anon } : anon)),
  ),
  traits: fc.dictionary(fc.constantFrom('plan', 'visits', 'interests', 'firstName', 'timezone', 'score'), fc.oneof(fc.string({ maxLength: 12 }), fc.integer({ min: 0, max: 100 }), fc.boolean()), { maxKeys: 3 }),
  consent: fc.dictionary(fc.constantFrom('email', 'sms', 'push'), fc.boolean(), { maxKeys: 2 }),
  properties: fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }).filter((k) => !k.startsWith('$') && !k.includes('.')), leaf, { maxKeys: 3 }),
  messageId: fc.uuid(),
});
const perturbed = fc.tuple(plausible, fc.constantFrom('traits', 'properties', 'consent', 'identities', 'timestamp'), fc.oneof(value, polluting, deep, huge)).map(([e, field, bad]) => ({ ...e, [field]: bad }));

const input = fc.oneof({ weight: 5, arbitrary: plausible }, { weight: 4, arbitrary: perturbed }, { weight: 4, arbitrary: event }, { weight: 1, arbitrary: value }, { weight: 1, arbitrary: polluting }, { weight: 1, arbitrary: deep }, { weight: 1, arbitrary: huge });

/** Keys MongoDB would read as an operator or a path, or that reach a prototype, anywhere in a stored document. */
function badKeys(value: unknown, path = ''): string[] {
  if (value === null || typeof value !== 'object' || value instanceof Date) return [];
  if (Array.isArray(value)) return value.flatMap((v, i) => badKeys(v, `${path}[${i}]`));
  return Object.keys(value).flatMap((k) => {
    const here = `${path}.${k}`;
    const bad = k.startsWith('$') || k.includes('.') || k === '__proto__' || k === 'constructor' || k === 'prototype' ? [here] : [];
    return [...bad, ...badKeys((value as Record<string, unknown>)[k], here)];
  });
}

describe('hostile events, generated (fast-check)', function () {
  this.timeout(600_000);
  useHelperRuntime();

  forEachBackend((ctx) => {
    it('each ends accepted or refused with a reason; no crash, no pollution, no operator key, no other person changed', async () => {
      const runs = ctx.store.node.backend === 'mongodb' ? 1_000 : 10_000;
      const flow = [
        tab(),
        ctx.store.node,
        node('in', 'event-in', { store: 'store', property: 'payload' }, [['merge'], ['rejected']]),
        node('merge', 'profile-merge', { store: 'store', strategy: 'overwrite', fields: [{ field: 'visits', strategy: 'sum' }, { field: 'interests', strategy: 'append' }] }, [['merged']]),
        helperNode('merged'),
        helperNode('rejected'),
        catchAll('caught'),
        helperNode('caught'),
      ];
      await helper.load([...journeyNodes, catchNode], flow, ctx.store.credentials);
      const store = await (helper.getNode('store') as unknown as JourneyStoreConfigNode).getStore();

      // A person no generated event names: must come out exactly as it went in.
      const outcome = new Map<number, (how: string) => void>();
      // A refused event leaves by event-in's second output and, when it is invalid, is also reported to Catch.
      const seen = { merged: new Set<number>(), rejected: new Set<number>(), caught: new Set<number>() };
      for (const how of ['merged', 'rejected', 'caught'] as const) {
        helper.getNode(how).on('input', (msg: NodeMessageInFlow) => {
          seen[how].add(msg.fuzz as number);
          outcome.get(msg.fuzz as number)?.(how);
        });
      }
      const send = (payload: unknown, i: number) =>
        new Promise<string>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`event ${i} ended nowhere: ${JSON.stringify(payload)?.slice(0, 300)}`)), 10_000);
          outcome.set(i, (how) => {
            clearTimeout(timer);
            outcome.delete(i);
            resolve(how);
          });
          helper.getNode('in').receive({ payload, fuzz: i });
        });
      expect(await send({ name: 'signed_up', identities: { email: 'sentinel@example.com' }, traits: { plan: 'gold', visits: 7 }, messageId: 'sentinel' }, -1)).to.equal('merged');
      const sentinel = await store.collection<Profile>(COLLECTIONS.profiles).findOne({ 'identities.email': 'sentinel@example.com' });
      const prototypeKeys = Object.getOwnPropertyNames(Object.prototype).sort();

      const samples = fc.sample(input, { numRuns: runs, seed: 20261123 });
      for (let i = 0; i < samples.length; i++) await send(samples[i], i);

      const ended = new Set([...seen.merged, ...seen.rejected, ...seen.caught]);
      expect(ended.size).to.equal(runs + 1);
      const both = [...seen.merged].filter((i) => seen.rejected.has(i));
      expect(both, 'accepted and refused at once').to.deep.equal([]);
      const counts = `${seen.merged.size} merged, ${seen.rejected.size} refused by event-in, ${seen.caught.size} reported to Catch`;
      console.log(`      ${runs.toLocaleString('en-US')} generated events: ${counts}`);
      expect(seen.merged.size, counts).to.be.greaterThan(runs / 20);
      expect(runs + 1 - seen.merged.size, counts).to.be.greaterThan(runs / 4);
      expect(({} as Record<string, unknown>).polluted).to.equal(undefined);
      expect(Object.getOwnPropertyNames(Object.prototype).sort()).to.deep.equal(prototypeKeys);
      const after = await store.collection<Profile>(COLLECTIONS.profiles).findOne({ _id: sentinel!._id });
      expect(after).to.deep.equal(sentinel);
      const stored: Profile[] = [];
      for await (const p of store.collection<Profile>(COLLECTIONS.profiles).find({})) stored.push(p);
      expect(stored.length).to.be.greaterThan(1);
      for (const p of stored) expect(badKeys(p), `profile ${p._id}`).to.deep.equal([]);
      for await (const e of store.collection(COLLECTIONS.events).find({})) expect(badKeys(e), `event ${e._id}`).to.deep.equal([]);
    });
  });
});
