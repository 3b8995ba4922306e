/**
 * Timers on Agenda v6, on whichever store the journeys use: Agenda's own MongoDB backend
 * on MongoDB, our store-port backend on the embedded store. Agenda is ESM-only, so it is
 * loaded with a real dynamic import (this package compiles to CommonJS).
 */
import type { Agenda, AgendaBackend } from 'agenda' with { 'resolution-mode': 'import' };
import { EmbeddedStore } from '../store/embedded/index.js';
import { MongoStore } from '../store/mongodb/index.js';
import type { Store } from '../store/port.js';
import { COLLECTIONS } from '../store/schema.js';
import { keepDebugColorAnswer } from './debug-colors.js';
import { StoreAgendaBackend } from './store-job-repository.js';

export interface SchedulerOptions {
  /** Identifies this process in Agenda's locks (lastModifiedBy). */
  name?: string;
  /** How often due jobs are looked for, in ms. */
  processEveryMs?: number;
  /** How long a lock holds before another process may take the job over, in ms. */
  lockLifetimeMs?: number;
}

/** How many jobs of one name run at once in one process. */
export const JOB_CONCURRENCY = 100;

async function backendFor(store: Store): Promise<AgendaBackend> {
  if (store instanceof MongoStore) {
    const { MongoBackend } = await import('@agendajs/mongo-backend');
    return new MongoBackend({ mongo: store.database(), collection: COLLECTIONS.agendaJobs });
  }
  if (store instanceof EmbeddedStore) return new StoreAgendaBackend(store);
  throw new Error(`no Agenda backend for ${store.description}`);
}

/** A configured, not yet started Agenda on `store`. The caller defines jobs, then starts it. */
export async function createAgenda(store: Store, options: SchedulerOptions = {}): Promise<Agenda> {
  const { Agenda } = await import('agenda');
  keepDebugColorAnswer();
  return new Agenda({
    backend: await backendFor(store),
    ...(options.name ? { name: options.name } : {}),
    processEvery: options.processEveryMs ?? 500,
    // Agenda's defaults (5 of a job at once, 20 in all) cap a wait's resumes at a few
    // hundred a second. And Agenda locks every due job into an in-process queue whose every
    // pick scans it: once due jobs outpace processing, the queue grows, each pick slows and
    // the backlog feeds itself. A lock limit keeps the backlog in the store instead, where a
    // due job costs nothing until it is claimed; a scan every half second tops the queue up.
    defaultConcurrency: JOB_CONCURRENCY,
    maxConcurrency: 2 * JOB_CONCURRENCY,
    defaultLockLimit: 10 * JOB_CONCURRENCY,
    defaultLockLifetime: options.lockLifetimeMs ?? 60_000,
  });
}
