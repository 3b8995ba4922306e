/** Milestones recorded by track, counted for reports. */
import { expect } from 'chai';
import { countMilestones, recordMilestone } from '../../lib/index.js';
import { forEachStore } from '../support/stores.js';

const at = new Date('2026-06-01T12:00:00Z');

describe('milestones', () => {
  forEachStore((ctx) => {
    it('counts milestones per journey and variant, by reach and by profile', async () => {
      await recordMilestone(ctx.store, { name: 'converted', profileId: 'p1', journey: 'welcome', variant: 'A', at });
      await recordMilestone(ctx.store, { name: 'converted', profileId: 'p1', journey: 'welcome', variant: 'A', at });
      await recordMilestone(ctx.store, { name: 'converted', profileId: 'p2', journey: 'welcome', variant: 'B', at });
      await recordMilestone(ctx.store, { name: 'converted', profileId: 'p3', at });
      await recordMilestone(ctx.store, { name: 'clicked', profileId: 'p3', journey: 'welcome', at });
      expect(await countMilestones(ctx.store, { name: 'converted' })).to.deep.equal([
        { name: 'converted', journey: null, variant: null, count: 1, profiles: 1 },
        { name: 'converted', journey: 'welcome', variant: 'A', count: 2, profiles: 1 },
        { name: 'converted', journey: 'welcome', variant: 'B', count: 1, profiles: 1 },
      ]);
      expect(await countMilestones(ctx.store, { journey: 'welcome' })).to.have.length(3);
    });

    it('records a milestone once per key', async () => {
      expect(await recordMilestone(ctx.store, { name: 'step', profileId: 'p', at }, 'n1:m1')).to.equal(true);
      expect(await recordMilestone(ctx.store, { name: 'step', profileId: 'p', at }, 'n1:m1')).to.equal(false);
      expect((await countMilestones(ctx.store))[0]?.count).to.equal(1);
    });

    it('refuses an unsafe milestone name', async () => {
      const err = await recordMilestone(ctx.store, { name: '$inc', profileId: 'p', at }).then(() => null, (e: Error) => e);
      expect(err?.message).to.match(/milestone name/);
    });
  });
});
