/** Split assignment (pure), and what a holdout does to a journey instance (both stores). */
import { expect } from 'chai';
import {
  assignVariant,
  checkSplit,
  COLLECTIONS,
  enrol,
  holdOut,
  HOLDOUT_REASON,
  JourneyDirectory,
  recordStep,
  SplitConfigError,
  stableFraction,
  type JourneyInstance,
  type Split,
  type SplitKey,
} from '../../lib/index.js';
import { forEachStore } from '../support/stores.js';

const PROFILES = 100_000;
const key = (i: number, journey = 'welcome', node = 'split1'): SplitKey => ({ profileId: `profile-${i}`, journey, node });

/** Share of each variant over `PROFILES` profiles. */
function shares(split: Split, draw: (i: number) => string = (i) => assignVariant(split, key(i)).variant): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < PROFILES; i++) {
    const variant = draw(i);
    counts.set(variant, (counts.get(variant) ?? 0) + 1);
  }
  return new Map([...counts].map(([k, v]) => [k, v / PROFILES]));
}

function expectWithin(actual: Map<string, number>, expected: Record<string, number>, tolerance = 0.01): void {
  expect([...actual.keys()].sort()).to.deep.equal(Object.keys(expected).sort());
  for (const [variant, share] of Object.entries(expected)) {
    expect(actual.get(variant), `share of ${variant}`).to.be.closeTo(share, tolerance);
  }
}

const abc = (holdoutPercent = 0, mode: 'stable' | 'random' = 'stable'): Split =>
  checkSplit({
    mode,
    branches: [
      { name: 'A', weight: 50 },
      { name: 'B', weight: 30 },
      { name: 'C', weight: 20 },
    ],
    holdoutPercent,
  });

describe('split assignment', () => {
  it('splits 100,000 profiles within 1% of the weights', () => {
    expectWithin(shares(abc()), { A: 0.5, B: 0.3, C: 0.2 });
  });

  it('holds out 10% and splits the rest by the weights, each within 1%', () => {
    const split = abc(10);
    expectWithin(shares(split), { holdout: 0.1, A: 0.45, B: 0.27, C: 0.18 });
    // Among those not held out, the branches keep their weights.
    const kept = new Map<string, number>();
    let total = 0;
    for (let i = 0; i < PROFILES; i++) {
      const a = assignVariant(split, key(i));
      if (a.held) continue;
      total += 1;
      kept.set(a.variant, (kept.get(a.variant) ?? 0) + 1);
    }
    expectWithin(new Map([...kept].map(([k, v]) => [k, v / total])), { A: 0.5, B: 0.3, C: 0.2 });
  });

  it('draws holdout and branch independently: the held-out would have split by the weights too', () => {
    const withHoldout = abc(10);
    const without = abc(0);
    const wouldHave = new Map<string, number>();
    let held = 0;
    for (let i = 0; i < PROFILES; i++) {
      if (!assignVariant(withHoldout, key(i)).held) continue;
      held += 1;
      const variant = assignVariant(without, key(i)).variant;
      wouldHave.set(variant, (wouldHave.get(variant) ?? 0) + 1);
    }
    expect(held).to.be.within(9_000, 11_000);
    // About 10,000 samples: a standard error near 0.5%, so 2% is a wide margin yet catches a biased draw.
    expectWithin(new Map([...wouldHave].map(([k, v]) => [k, v / held])), { A: 0.5, B: 0.3, C: 0.2 }, 0.02);
  });

  it('is sticky: the same profile, journey and node always get the same branch, whatever came before', () => {
    const split = abc(10);
    const first = Array.from({ length: 1000 }, (_, i) => assignVariant(split, key(i)).variant);
    const reversed = Array.from({ length: 1000 }, (_, i) => assignVariant(split, key(999 - i)).variant).reverse();
    expect(reversed).to.deep.equal(first);
    // Equal settings checked afresh (as after a redeploy or in another process) agree too.
    expect(Array.from({ length: 1000 }, (_, i) => assignVariant(abc(10), key(i)).variant)).to.deep.equal(first);
    expect(new Set(first).size).to.equal(4);
  });

  it('draws afresh for another journey or another split node', () => {
    const split = abc();
    const base = Array.from({ length: 2000 }, (_, i) => assignVariant(split, key(i)).variant);
    const otherJourney = Array.from({ length: 2000 }, (_, i) => assignVariant(split, key(i, 'cart')).variant);
    const otherNode = Array.from({ length: 2000 }, (_, i) => assignVariant(split, key(i, 'welcome', 'split2')).variant);
    const agreement = (a: string[], b: string[]) => a.filter((v, i) => v === b[i]).length / a.length;
    // Independent draws with weights .5/.3/.2 agree 38% of the time; the same draw would agree always.
    expect(agreement(base, otherJourney)).to.be.closeTo(0.38, 0.05);
    expect(agreement(base, otherNode)).to.be.closeTo(0.38, 0.05);
  });

  it('never chooses a branch of weight 0, wherever it stands', () => {
    const split = checkSplit({
      branches: [
        { name: 'off-first', weight: 0 },
        { name: 'A', weight: 1 },
        { name: 'off-middle', weight: 0 },
        { name: 'B', weight: 3 },
        { name: 'off-last', weight: 0 },
      ],
    });
    expectWithin(shares(split), { A: 0.25, B: 0.75 });
    // The edges of the range too.
    expect(assignVariant({ ...split, mode: 'random' }, key(0), () => 0).variant).to.equal('A');
    expect(assignVariant({ ...split, mode: 'random' }, key(0), () => 0.9999999999999999).variant).to.equal('B');
  });

  it('random mode: the same weights, drawn afresh for every msg', () => {
    const split = abc(0, 'random');
    expectWithin(shares(split), { A: 0.5, B: 0.3, C: 0.2 });
    const one = new Set(Array.from({ length: 200 }, () => assignVariant(split, key(1)).variant));
    expect(one.size).to.be.greaterThan(1);
  });

  it('random mode keeps the holdout sticky: a control group stays a control group', () => {
    const split = abc(20, 'random');
    for (let i = 0; i < 500; i++) {
      const held = assignVariant(split, key(i)).held;
      for (let again = 0; again < 5; again++) expect(assignVariant(split, key(i)).held).to.equal(held);
    }
    expectWithin(shares(split, (i) => (assignVariant(split, key(i)).held ? 'holdout' : 'in')), { holdout: 0.2, in: 0.8 });
  });

  it('hashes to [0, 1) and tells the key parts apart', () => {
    const a = stableFraction('branch', { profileId: 'ab', journey: 'c', node: 'n' });
    const b = stableFraction('branch', { profileId: 'a', journey: 'bc', node: 'n' });
    expect(a).to.be.within(0, 1).and.not.equal(1);
    expect(a).to.not.equal(b);
    expect(stableFraction('holdout', key(1))).to.not.equal(stableFraction('branch', key(1)));
  });

  describe('settings', () => {
    const bad = (input: Parameters<typeof checkSplit>[0], message: RegExp) => {
      expect(() => checkSplit(input)).to.throw(SplitConfigError, message);
    };
    const two = (a: unknown, b: unknown) => [
      { name: 'A', weight: a },
      { name: 'B', weight: b },
    ];

    it('refuses negative, NaN, infinite and non-number weights, naming the branch', () => {
      bad({ branches: two(50, -1) }, /weight of branch B must be a number of 0 or more, not -1/);
      bad({ branches: two(Number.NaN, 1) }, /weight of branch A .* not NaN/);
      bad({ branches: two(1, Number.POSITIVE_INFINITY) }, /weight of branch B/);
      bad({ branches: two('50', 1) }, /weight of branch A .* not 50/);
      bad({ branches: two(null, 1) }, /weight of branch A .* not null/);
    });

    it('refuses all-zero weights and no branches', () => {
      bad({ branches: two(0, 0) }, /every branch has weight 0/);
      bad({ branches: [] }, /at least one branch/);
      bad({}, /at least one branch/);
    });

    it('refuses missing, duplicate and reserved branch names', () => {
      bad({ branches: [{ name: ' ', weight: 1 }] }, /branch 1 has no name/);
      bad({ branches: [{ weight: 1 }] }, /branch 1 has no name/);
      bad({ branches: [{ name: 'A', weight: 1 }, { name: ' A ', weight: 1 }] }, /two branches are named "A"/);
      bad({ branches: [{ name: 'holdout', weight: 1 }] }, /reserved for the control group/);
      bad({ branches: [{ name: 'x'.repeat(65), weight: 1 }] }, /1 to 64 characters/);
    });

    it('refuses a holdout outside 0 to below 100, and an unknown mode', () => {
      for (const holdoutPercent of [-1, 100, 150, Number.NaN, '10']) {
        bad({ branches: two(1, 1), holdoutPercent }, /holdout must be a percentage from 0 to below 100/);
      }
      bad({ branches: two(1, 1), mode: 'roundRobin' }, /unknown split mode "roundRobin"/);
    });

    it('accepts good settings, trimming names and defaulting to a stable split without holdout', () => {
      expect(checkSplit({ branches: [{ name: ' A ', weight: 0 }, { name: 'B', weight: 2.5 }] })).to.deep.equal({
        mode: 'stable',
        branches: [
          { name: 'A', weight: 0 },
          { name: 'B', weight: 2.5 },
        ],
        holdoutPercent: 0,
      });
    });
  });
});

describe('split holdout on journey instances', () => {
  forEachStore((ctx) => {
    const t0 = new Date('2026-06-01T12:00:00Z');
    const later = (minutes: number) => new Date(t0.getTime() + minutes * 60_000);
    const instances = () => ctx.store.collection<JourneyInstance>(COLLECTIONS.instances);
    const enter = async (profileId = 'p1', journey = 'welcome') => {
      const e = await enrol(ctx.store, { journey, profileId, policy: { mode: 'oneActive' }, at: t0, entryNode: 'in' });
      if (e.status !== 'entered') throw new Error(e.reason);
      return e.instance;
    };
    const directory = () => {
      const d = new JourneyDirectory();
      d.define({ name: 'welcome', exitEvents: ['unsubscribed'], goalEvents: ['purchase'] });
      d.define({ name: 'cart', exitEvents: [], goalEvents: ['purchase'] });
      return d;
    };

    it('ends a held-out instance as exited, with the holdout variant, step and reason, and frees its gate', async () => {
      const instance = await enter();
      const held = await holdOut(ctx.store, instance._id, 'split1', later(1));
      expect(held).to.deep.include({ status: 'exited', endReason: HOLDOUT_REASON, heldOutAt: 'split1', variants: { split1: 'holdout' } });
      expect(held?.endedAt).to.deep.equal(later(1));
      expect(held?.path.map((s) => s.node)).to.deep.equal(['in', 'split1']);
      expect(HOLDOUT_REASON).to.equal('holdout (control group)');
      // Once ended it is not held out (or stepped) again.
      expect(await holdOut(ctx.store, instance._id, 'split1', later(2))).to.equal(null);
      expect(await recordStep(ctx.store, instance._id, 'split2', later(2), 'A')).to.equal(false);
      // One at a time: the profile may enter again once held out.
      expect((await enrol(ctx.store, { journey: 'welcome', profileId: 'p1', policy: { mode: 'oneActive' }, at: later(3) })).status).to.equal('entered');
    });

    it('converts a held-out instance on a later goal event of its journey, once, and nothing else', async () => {
      const heldOut = await enter('p1', 'welcome');
      await holdOut(ctx.store, heldOut._id, 'split1', later(1));
      const plainExit = await enter('p2', 'welcome');
      await directory().applyEvent(ctx.store, 'p2', 'unsubscribed', later(1));
      const otherJourney = await enter('p1', 'cart');
      await holdOut(ctx.store, otherJourney._id, 'split9', later(1));

      // An exit event leaves a held-out instance as it is.
      expect(await directory().applyEvent(ctx.store, 'p1', 'unsubscribed', later(2))).to.deep.equal([]);
      expect((await instances().findOne({ _id: heldOut._id }))?.status).to.equal('exited');

      const converted = await directory().applyEvent(ctx.store, 'p1', 'purchase', later(3));
      expect(converted.map((i) => [i._id, i.status]).sort()).to.deep.equal(
        [
          [heldOut._id, 'converted'],
          [otherJourney._id, 'converted'],
        ].sort(),
      );
      const stored = await instances().findOne({ _id: heldOut._id });
      expect(stored).to.deep.include({ status: 'converted', endReason: 'goal event purchase', heldOutAt: 'split1', variants: { split1: 'holdout' } });
      expect(stored?.endedAt).to.deep.equal(later(1));
      expect(stored?.updatedAt).to.deep.equal(later(3));
      // A second goal converts nothing again; an instance exited for another reason never converts this way.
      expect(await directory().applyEvent(ctx.store, 'p1', 'purchase', later(4))).to.deep.equal([]);
      expect(await directory().applyEvent(ctx.store, 'p2', 'purchase', later(4))).to.deep.equal([]);
      expect((await instances().findOne({ _id: plainExit._id }))?.status).to.equal('exited');
    });
  });
});
