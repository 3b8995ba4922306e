/**
 * Timers on Agenda v6, on whichever store the journeys use: Agenda's own MongoDB backend
 * on MongoDB, our store-port backend on the embedded store. Agenda is ESM-only, so it is
 * loaded with a real dynamic import (this package compiles to CommonJS).
 */
import type { Agenda, AgendaBackend } from 'agenda' with { 'resolution-mode': 'import' };
import { EmbeddedStore } from '../store/embedded/index.js';
import { MongoStore } from '../store/mongodb/index.js';
import type { Store } from '../store/port.js';
import { StoreAgendaBackend } from './store-job-repository.js';

export interface SchedulerOptions {
  /** Identifies this process in Agenda's locks (lastModifiedBy). */
  name?: string;
  /** How often due jobs are looked for, in ms. */
  processEveryMs?: number;
  /** How long a lock holds before another process may take the job over, in ms. */
  lockLifetimeMs?: number;
}

export const AGENDA_COLLECTION = 'agendaJobs';

async function backendFor(store: Store): Promise<AgendaBackend> {
  if (store instanceof MongoStore) {
    const { MongoBackend } = await import('@agendajs/mongo-backend');
    return new MongoBackend({ mongo: store.database(), collection: AGENDA_COLLECTION });
  }
  if (store instanceof EmbeddedStore) return new StoreAgendaBackend(store);
  throw new Error(`no Agenda backend for ${store.description}`);
}

/** A configured, not yet started Agenda on `store`. The caller defines jobs, then starts it. */
export async function createAgenda(store: Store, options: SchedulerOptions = {}): Promise<Agenda> {
  const { Agenda } = await import('agenda');
  return new Agenda({
    backend: await backendFor(store),
    ...(options.name ? { name: options.name } : {}),
    processEvery: options.processEveryMs ?? 1000,
    defaultLockLifetime: options.lockLifetimeMs ?? 60_000,
  });
}
