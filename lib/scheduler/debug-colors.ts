/**
 * Agenda's job processor derives a fresh `debug` logger (`log.extend(...)`) on every pass
 * over its queue, several per job, and `debug` asks the terminal whether stderr is a TTY
 * each time it makes one: at thousands of jobs a second that question alone took a tenth of
 * the CPU of the timer bench. Whether stderr is a terminal does not change while the process
 * runs, so the answer is asked once and kept, in the `debug` that Agenda itself loads.
 */
import { createRequire } from 'node:module';

interface DebugModule {
  useColors(): boolean;
}

let done = false;

export function keepDebugColorAnswer(): void {
  if (done) return;
  done = true;
  const debug = createRequire(require.resolve('agenda'))('debug') as Partial<DebugModule>;
  if (typeof debug.useColors !== 'function') return;
  const answer = debug.useColors();
  debug.useColors = () => answer;
}
