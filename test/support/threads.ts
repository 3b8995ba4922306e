/**
 * The OS threads of a process with a given name, as Linux lists them in /proc (it keeps
 * the first 15 characters of a worker's name), with each one's nice value.
 */
import { readdirSync, readFileSync } from 'node:fs';

export function threadsNamed(name: string, pid: number | 'self' = 'self'): { nice: number }[] {
  const read = (path: string) => {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      // The process or the thread ended while being read.
      return null;
    }
  };
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  return tasks.flatMap((task) => {
    if (read(`/proc/${pid}/task/${task}/comm`)?.trim() !== name.slice(0, 15)) return [];
    const stat = read(`/proc/${pid}/task/${task}/stat`);
    // Fields after the parenthesised name: state is the 3rd field of the line, nice the 19th.
    return stat ? [{ nice: Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19 - 3]) }] : [];
  });
}
