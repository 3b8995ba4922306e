/** DueQueue: which Agenda job to claim next, in Agenda's own order, from a hint that may be stale. */
import { expect } from 'chai';
import { DueQueue, type JobSummary } from '../../lib/scheduler/due-queue.js';

const at = (ms: number) => new Date(ms);
const job = (id: string, fields: Partial<JobSummary> = {}): JobSummary => ({
  _id: id,
  name: 'wait',
  nextRunAt: at(100),
  priority: 0,
  lockedAt: null,
  disabled: false,
  ...fields,
});

describe('due queue', () => {
  it('names the earliest due job, then the higher priority among equals, and nothing not yet due', () => {
    const queue = new DueQueue();
    queue.track(job('late', { nextRunAt: at(300) }));
    queue.track(job('low', { nextRunAt: at(200), priority: 0 }));
    queue.track(job('high', { nextRunAt: at(200), priority: 10 }));
    queue.track(job('other-name', { name: 'send', nextRunAt: at(1) }));
    expect(queue.next('wait', at(150), at(0))).to.equal(undefined);
    expect(queue.next('wait', at(250), at(0))?._id).to.equal('high');
    queue.track(job('high', { nextRunAt: at(200), priority: 10, lockedAt: at(250) }));
    expect(queue.next('wait', at(250), at(0))?._id).to.equal('low');
  });

  it('skips stale entries: a job moved later, removed or disabled since it was queued', () => {
    const queue = new DueQueue();
    queue.track(job('moved', { nextRunAt: at(100) }));
    queue.track(job('removed', { nextRunAt: at(110) }));
    queue.track(job('disabled', { nextRunAt: at(120) }));
    queue.track(job('kept', { nextRunAt: at(130) }));
    queue.track(job('moved', { nextRunAt: at(900) }));
    queue.forget('removed');
    queue.track(job('disabled', { nextRunAt: at(120), disabled: true }));
    expect(queue.next('wait', at(500), at(0))?._id).to.equal('kept');
    expect(queue.next('wait', at(1000), at(0))?._id).to.equal('kept');
  });

  it('offers a job whose lock expired, and not one whose lock still holds', () => {
    const queue = new DueQueue();
    queue.track(job('stuck', { nextRunAt: at(50), lockedAt: at(60) }));
    expect(queue.next('wait', at(1000), at(59))).to.equal(undefined);
    expect(queue.next('wait', at(1000), at(60))?._id).to.equal('stuck');
    queue.track(job('due', { nextRunAt: at(40) }));
    expect(queue.next('wait', at(1000), at(60))?._id).to.equal('due');
  });

  it('forgets everything on clear', () => {
    const queue = new DueQueue();
    queue.track(job('a'));
    queue.clear();
    expect(queue.next('wait', at(1000), at(1000))).to.equal(undefined);
  });
});
