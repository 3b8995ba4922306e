/**
 * Another process's resident memory and CPU time, read from /proc (Linux): the soak and the
 * state bench watch Node-RED from outside, as an operator would, not from inside the runtime.
 */
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat's times (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

export interface UsageSample {
  /** Seconds since sampling began. */
  t: number;
  rssMiB: number;
  cpuSeconds: number;
}

export function rssMiB(pid: number): number {
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  if (!kb) throw new Error(`no VmRSS for process ${pid}`);
  return Number(kb) / 1024;
}

/** User plus system CPU time the process has used, in seconds. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces; the fields after it are space-separated.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/** The one child of `pid` (Node-RED under its start script). */
export function onlyChild(pid: number): number {
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  if (children.length !== 1) throw new Error(`process ${pid} has ${children.length} children, expected one`);
  return children[0]!;
}

/** Samples `pid` every `everyMs` until stopped. */
export function sampleUsage(pid: number, everyMs: number): { samples: UsageSample[]; stop(): UsageSample[] } {
  const samples: UsageSample[] = [];
  const began = Date.now();
  const take = () => {
    try {
      samples.push({ t: (Date.now() - began) / 1000, rssMiB: rssMiB(pid), cpuSeconds: cpuSeconds(pid) });
    } catch {
      // the process is gone: the samples so far stand
    }
  };
  take();
  const timer = setInterval(take, everyMs);
  return {
    samples,
    stop() {
      clearInterval(timer);
      take();
      return samples;
    },
  };
}
