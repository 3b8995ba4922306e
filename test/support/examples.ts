/** What the tests of the example flows share: their embedded store, time passing for waits, and a daytime zone. */
import { join } from 'node:path';
import { COLLECTIONS, createAgenda, EmbeddedStore, WAIT_JOB, type JourneyInstance, type Store } from '../../lib/index.js';
import { all } from './stores.js';

/** Opens the example's embedded store (`journeys-store` in the user directory) while Node-RED is stopped: it has one owner at a time. */
export async function withEmbeddedStore<T>(userDir: string, work: (store: Store) => Promise<T>): Promise<T> {
  const store = await EmbeddedStore.open({ directory: join(userDir, 'journeys-store') });
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

/** Time passes for the instances waiting at `node`: their wait jobs fall due now. Returns them. */
export async function waitsFallDue(store: Store, node: string): Promise<JourneyInstance[]> {
  const waiting = await all(store.collection<JourneyInstance>(COLLECTIONS.instances).find({ status: 'waiting', waitingAt: node }));
  const agenda = await createAgenda(store);
  for (const i of waiting) {
    await agenda.cancel({ data: { instanceId: i._id, node } });
    await agenda.create(WAIT_JOB, { instanceId: i._id, node }).schedule(new Date()).save();
  }
  return waiting;
}

/** A time zone where it is daytime now, so an example's quiet hours (night) do not hold its sends. */
export function daytimeZone(now = new Date()): string {
  for (const zone of ['UTC', 'Europe/Berlin', 'America/New_York', 'America/Los_Angeles', 'Asia/Tokyo', 'Australia/Sydney', 'Asia/Kolkata']) {
    const hour = Number(new Intl.DateTimeFormat('en-US', { timeZone: zone, hour: 'numeric', hourCycle: 'h23' }).format(now));
    if (hour >= 9 && hour <= 19) return zone;
  }
  throw new Error('no daytime zone found');
}
