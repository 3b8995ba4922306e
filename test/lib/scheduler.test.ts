/** Agenda on both stores: jobs run once, survive a restart, and run once across two processes' schedulers. */
import { expect } from 'chai';
import type { Agenda } from 'agenda' with { 'resolution-mode': 'import' };
import { createAgenda } from '../../lib/scheduler/index.js';
import { forEachStore } from '../support/stores.js';
import { eventually, sleep } from '../support/timing.js';

interface Ping {
  key: string;
}

describe('scheduler (Agenda v6)', function () {
  this.timeout(30_000);
  forEachStore((ctx) => {
    const started: Agenda[] = [];
    afterEach(async () => {
      await Promise.all(started.splice(0).map((a) => a.stop()));
    });

    async function agendaRecording(runs: string[], name = 'test'): Promise<Agenda> {
      const agenda = await createAgenda(ctx.store, { name, processEveryMs: 100 });
      agenda.define<Ping>('ping', async (job) => {
        runs.push(job.attrs.data.key);
      });
      await agenda.start();
      started.push(agenda);
      return agenda;
    }

    it('runs a scheduled job once, when it is due', async () => {
      const runs: string[] = [];
      const agenda = await agendaRecording(runs);
      const at = new Date(Date.now() + 300);
      await agenda.schedule<Ping>(at, 'ping', { key: 'a' });
      await sleep(100);
      expect(runs).to.deep.equal([]);
      await eventually(() => (runs.length > 0 ? runs : undefined), 5000, 'the job to run');
      await sleep(400);
      expect(runs).to.deep.equal(['a']);
    });

    it('saves a unique job once however often it is scheduled', async () => {
      const runs: string[] = [];
      const agenda = await agendaRecording(runs);
      for (let i = 0; i < 3; i++) {
        await agenda
          .create<Ping>('ping', { key: 'same' })
          .unique({ 'data.key': 'same' }, { insertOnly: true })
          .schedule(new Date(Date.now() + 200))
          .save();
      }
      await eventually(() => (runs.length > 0 ? runs : undefined), 5000, 'the job to run');
      await sleep(400);
      expect(runs).to.deep.equal(['same']);
    });

    it('cancels a job by its data', async () => {
      const runs: string[] = [];
      const agenda = await agendaRecording(runs);
      await agenda.schedule<Ping>(new Date(Date.now() + 300), 'ping', { key: 'gone' });
      await agenda.schedule<Ping>(new Date(Date.now() + 300), 'ping', { key: 'kept' });
      expect(await agenda.cancel({ data: { key: 'gone' } })).to.equal(1);
      await eventually(() => (runs.length > 0 ? runs : undefined), 5000, 'the job to run');
      await sleep(400);
      expect(runs).to.deep.equal(['kept']);
    });

    it('keeps a scheduled job across a restart and runs it after', async () => {
      const before: string[] = [];
      const first = await agendaRecording(before);
      await first.schedule<Ping>(new Date(Date.now() + 500), 'ping', { key: 'durable' });
      await first.stop();
      started.splice(started.indexOf(first), 1);
      await ctx.store.close();
      ctx.store = await ctx.fixture.reopen();
      const after: string[] = [];
      await agendaRecording(after);
      await eventually(() => (after.length > 0 ? after : undefined), 5000, 'the job to run after the restart');
      expect(before).to.deep.equal([]);
      expect(after).to.deep.equal(['durable']);
    });

    it('runs each job once when two schedulers share the store', async () => {
      const runs: string[] = [];
      const one = await agendaRecording(runs, 'one');
      await agendaRecording(runs, 'two');
      const at = new Date(Date.now() + 300);
      for (let i = 0; i < 20; i++) await one.schedule<Ping>(at, 'ping', { key: `k${i}` });
      await eventually(() => (runs.length >= 20 ? runs : undefined), 10_000, 'all jobs to run');
      await sleep(500);
      expect([...runs].sort()).to.deep.equal(Array.from({ length: 20 }, (_, i) => `k${i}`).sort());
    });
  });
});
