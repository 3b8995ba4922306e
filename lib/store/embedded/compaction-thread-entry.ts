/** The body of a compaction thread (see compaction.ts): replays, writes, answers the bytes written. */
import { readlinkSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { constants, setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { LatestVersions, type CompactionJob } from './compaction.js';
import { readJournal } from './journal.js';

const port = parentPort;
if (!port) throw new Error('compaction-thread-entry runs only as a worker thread');
const { file, covers, target } = workerData as CompactionJob;

/**
 * Compaction can wait; the flows cannot. On a machine with two cores, a compaction at full
 * priority took the core the SMTP thread and the runtime's other threads share, for up to
 * three seconds at 100 MB. Below normal priority (nice 10) it gets about a tenth of a core
 * they keep busy, and all of one they leave idle; at the lowest (19) it all but stopped on
 * a machine kept busy, and the journal grew meanwhile. Linux keeps a priority per thread,
 * set through the thread's own id; elsewhere (no /proc/thread-self) the thread keeps the
 * process's priority.
 */
function yieldToTheFlows(): void {
  try {
    const threadId = Number(readlinkSync('/proc/thread-self').split('/').pop());
    setPriority(threadId, constants.priority.PRIORITY_BELOW_NORMAL);
  } catch {
    // Not Linux, or not permitted: compaction still runs, at the process's priority.
  }
}

async function compact(): Promise<number> {
  yieldToTheFlows();
  const latest = new LatestVersions();
  await readJournal(file, (record, line) => latest.add(record, line), covers);
  const out = await open(target, 'w');
  let bytes = 0;
  try {
    let buffer: string[] = [];
    let size = 0;
    const flush = async () => {
      const chunk = buffer.join('');
      await out.write(chunk);
      bytes += Buffer.byteLength(chunk);
      buffer = [];
      size = 0;
    };
    for (const line of latest.lines()) {
      buffer.push(line);
      size += line.length;
      if (size > 1 << 20) await flush();
    }
    await flush();
    await out.sync();
  } finally {
    await out.close();
  }
  return bytes;
}

void compact().then((bytes) => port.postMessage(bytes));
