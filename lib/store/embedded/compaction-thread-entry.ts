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
 * three seconds at 100 MB. At the lowest priority it runs on what they leave idle. On a
 * machine busy without a pause it all but stops (about 1.5 % of a core), and the journal
 * grows until the load eases: nothing is lost meanwhile, and the flows keep their p99
 * (bench/HISTORY.md, first send, step 9: nice 10 against 19). Linux keeps a priority per
 * thread, set through the thread's own id; elsewhere (no /proc/thread-self) the thread keeps
 * the process's priority.
 */
function yieldToTheFlows(): void {
  try {
    const threadId = Number(readlinkSync('/proc/thread-self').split('/').pop());
    setPriority(threadId, constants.priority.PRIORITY_LOW);
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
