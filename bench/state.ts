/**
 * Scale of state: the resident memory of one real Node-RED process (started as `npm start`
 * starts it) running a journey with a wait, over a store that already holds N profiles and
 * N/10 instances waiting there with their timers. The baseline, in the same run, is the same
 * process and flow over an empty store. A store that keeps its data outside the process
 * should leave the figure flat as N grows; one that keeps it inside grows with N.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient, ObjectId } from 'mongodb';
import { COLLECTIONS, createAgenda, EmbeddedStore, MongoStore, WAIT_JOB, Waits, type Doc, type JourneyInstance, type Store } from '../lib/index.js';
import { startNodeRed } from '../test/support/runtime.js';
import { profileDoc } from '../test/support/stores.js';
import { sleep } from './measure.js';
import { onlyChild, rssMiB } from './process-usage.js';

export interface StateSize {
  profiles: number;
  waiting: number;
}

export interface StateRow extends StateSize {
  fillSeconds: number;
  /** From deploying the flow to the store answering with every waiting instance counted. */
  openSeconds: number;
  rssMiB: number;
}

export interface StateTarget {
  kind: 'embedded' | 'mongodb';
  /** MongoDB only. */
  uri?: string;
}

const JOURNEY = 'bench-state';
const WAIT_NODE = 'st-wait';
const BATCH = 10_000;
const progress = (line: string) => process.stderr.write(`    ${line}\n`);

/** Where a store of one size lives: an embedded directory, or a MongoDB database. */
interface Place {
  open(): Promise<Store>;
  storeNode: Record<string, unknown>;
  /** Inserts `count` copies of `template` (a stored Agenda job), each for its own instance. */
  copyJob(template: JobDoc, count: number, instanceOf: (i: number) => string): Promise<void>;
  cleanup(): Promise<void>;
}

async function placeFor(target: StateTarget): Promise<Place> {
  if (target.kind === 'embedded') {
    const directory = await mkdtemp(join(tmpdir(), 'journeys-state-'));
    return {
      open: () => EmbeddedStore.open({ directory }),
      storeNode: { backend: 'embedded', directory },
      async copyJob(template, count, instanceOf) {
        const store = await EmbeddedStore.open({ directory });
        try {
          const jobs = store.collection<JobDoc>(COLLECTIONS.agendaJobs);
          for (let from = 0; from < count; from += BATCH) {
            const docs = Array.from({ length: Math.min(BATCH, count - from) }, (_, k) => ({ ...jobFor(template, instanceOf(from + k)), _id: randomUUID() }));
            await jobs.insertMany(docs);
          }
        } finally {
          await store.close();
        }
      },
      cleanup: () => rm(directory, { recursive: true, force: true }),
    };
  }
  const uri = target.uri!;
  const database = `bench_state_${randomUUID().slice(0, 8)}`;
  return {
    open: () => MongoStore.open({ uri, database }),
    storeNode: { backend: 'mongodb', database, credentials: { uri } },
    // Agenda's MongoDB backend keys its jobs by ObjectId, which the store port does not speak.
    async copyJob(template, count, instanceOf) {
      const client = await MongoClient.connect(uri);
      try {
        const jobs = client.db(database).collection(COLLECTIONS.agendaJobs);
        for (let from = 0; from < count; from += BATCH) {
          await jobs.insertMany(Array.from({ length: Math.min(BATCH, count - from) }, (_, k) => ({ ...jobFor(template, instanceOf(from + k)), _id: new ObjectId() })));
        }
      } finally {
        await client.close();
      }
    },
    async cleanup() {
      const client = await MongoClient.connect(uri);
      await client.db(database).dropDatabase().finally(() => client.close());
    },
  };
}

type JobDoc = Doc & { data: Record<string, unknown> };

/** The template job, for another instance; the caller gives it its own _id. */
const jobFor = (template: JobDoc, instanceId: string): JobDoc => ({ ...template, data: { ...template.data, instanceId } });

const instanceId = (i: number) => `st-${i}`;

/**
 * Profiles and waiting instances written in bulk; the timers are copies of one job that
 * `Waits.wait` scheduled, so they are what the wait node itself would have stored.
 */
async function fill(place: Place, size: StateSize): Promise<void> {
  const store = await place.open();
  let template: JobDoc | null;
  try {
    const profiles = store.collection(COLLECTIONS.profiles);
    const now = new Date();
    for (let from = 0; from < size.profiles; from += BATCH) {
      const docs = Array.from({ length: Math.min(BATCH, size.profiles - from) }, (_, k) => {
        const id = `p${from + k}`;
        return profileDoc(id, {
          identities: { userId: [id], email: [`${id}@example.com`] },
          traits: { firstName: `Name ${from + k}`, plan: (from + k) % 3 === 0 ? 'pro' : 'free', city: 'Lisbon', orders: (from + k) % 17 },
          consent: { email: { status: 'granted', at: now } },
        });
      });
      await profiles.insertMany(docs);
      if ((from + BATCH) % 200_000 === 0) progress(`${from + BATCH} profiles`);
    }
    const instances = store.collection<JourneyInstance>(COLLECTIONS.instances);
    for (let from = 0; from < size.waiting; from += BATCH) {
      await instances.insertMany(
        Array.from({ length: Math.min(BATCH, size.waiting - from) }, (_, k) => ({
          _id: instanceId(from + k),
          journey: JOURNEY,
          profileId: `p${from + k}`,
          path: [{ node: 'st-in', at: now }],
          variants: {},
          enteredAt: now,
          updatedAt: now,
          // The first is parked below by the wait itself.
          ...(from + k === 0
            ? { status: 'active' as const }
            : { status: 'waiting' as const, snapshot: { payload: { name: 'signed_up' } }, waitingAt: WAIT_NODE, waitingFor: null }),
        })),
      );
    }
    const agenda = await createAgenda(store, { name: 'bench-state-fill' });
    // One real wait, 30 days out, as the flow's wait node schedules them.
    await new Waits(store, agenda).wait({ instanceId: instanceId(0), node: WAIT_NODE, snapshot: { payload: { name: 'signed_up' } }, until: new Date(Date.now() + 30 * 86_400_000) });
    template = await store.collection<JobDoc>(COLLECTIONS.agendaJobs).findOne({ name: WAIT_JOB });
  } finally {
    await store.close();
  }
  if (!template) throw new Error('the wait scheduled no Agenda job');
  if (size.waiting > 1) await place.copyJob(template, size.waiting - 1, (i) => instanceId(i + 1));
}

function flow(storeNode: Record<string, unknown>): Array<Record<string, unknown>> {
  const z = 'st-tab';
  return [
    { id: z, type: 'tab', label: 'scale of state' },
    { id: 'st-store', type: 'journey-store', ...storeNode },
    { id: 'st-http', type: 'http in', z, url: '/state/events', method: 'post', wires: [['st-in']] },
    { id: 'st-in', type: 'event-in', z, store: 'st-store', journey: JOURNEY, reentry: 'always', wires: [['st-reply', 'st-wait'], ['st-reply']] },
    { id: 'st-reply', type: 'http response', z, wires: [] },
    { id: WAIT_NODE, type: 'wait', z, store: 'st-store', mode: 'duration', amount: 30, unit: 'days', wires: [['st-track'], []] },
    { id: 'st-track', type: 'track', z, store: 'st-store', milestone: 'after_wait', wires: [[]] },
  ];
}

/** Starts Node-RED over the filled store, waits until it answers with every waiting instance, then samples its RSS. */
async function measure(place: Place, size: StateSize): Promise<Pick<StateRow, 'openSeconds' | 'rssMiB'>> {
  const userDir = await mkdtemp(join(tmpdir(), 'journeys-state-red-'));
  const red = await startNodeRed(userDir);
  try {
    const started = Date.now();
    const deployed = await red.request('POST', '/flows', flow(place.storeNode), { 'Node-RED-Deployment-Type': 'full' });
    if (deployed.status >= 300) throw new Error(`deploy failed: ${deployed.text}`);
    for (;;) {
      const answer = await red.request('GET', '/journeys/reports');
      const journeys = (answer.json as { journeys?: Array<{ journey: string; waiting: number }> } | undefined)?.journeys ?? [];
      const waiting = journeys.find((j) => j.journey === JOURNEY)?.waiting ?? 0;
      if (answer.status === 200 && waiting === size.waiting) break;
      if (Date.now() - started > 10 * 60_000) throw new Error(`the store did not answer with ${size.waiting} waiting: ${answer.text.slice(0, 300)}`);
      await sleep(250);
    }
    const openSeconds = (Date.now() - started) / 1000;
    const pid = onlyChild(red.pid);
    // Settled: Agenda has polled, the badges have counted; the peak of a few samples.
    await sleep(2000);
    let peak = 0;
    for (let i = 0; i < 6; i++) {
      peak = Math.max(peak, rssMiB(pid));
      await sleep(250);
    }
    return { openSeconds, rssMiB: peak };
  } finally {
    await red.stop();
    await rm(userDir, { recursive: true, force: true });
  }
}

export async function benchState(target: StateTarget, sizes: StateSize[]): Promise<StateRow[]> {
  const rows: StateRow[] = [];
  for (const size of sizes) {
    const place = await placeFor(target);
    try {
      const filling = Date.now();
      if (size.profiles > 0 || size.waiting > 0) await fill(place, size);
      const fillSeconds = (Date.now() - filling) / 1000;
      rows.push({ ...size, fillSeconds, ...(await measure(place, size)) });
    } finally {
      await place.cleanup();
    }
  }
  return rows;
}
