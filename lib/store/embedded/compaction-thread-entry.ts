/** The body of a compaction thread (see compaction.ts): replays, writes, answers the bytes written. */
import { open } from 'node:fs/promises';
import { parentPort, workerData } from 'node:worker_threads';
import { LatestVersions, type CompactionJob } from './compaction.js';
import { readJournal } from './journal.js';

const port = parentPort;
if (!port) throw new Error('compaction-thread-entry runs only as a worker thread');
const { file, covers, target } = workerData as CompactionJob;

async function compact(): Promise<number> {
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
