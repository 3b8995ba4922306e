/**
 * A child process for the journal's kill test: writes to an embedded store that compacts
 * often, ten writes in flight, until it is killed, printing the number of each write once
 * it is acknowledged. Arguments: the store's directory and the first write's number.
 */
import { EmbeddedStore } from '../../lib/index.js';

export const WRITER_DOCUMENTS = 50;

async function main(directory: string, from: number): Promise<void> {
  const store = await EmbeddedStore.open({ directory, compactAfterBytes: 64 * 1024 });
  const docs = store.collection<{ _id: string; n: number; pad: string }>('c');
  for (let i = from; ; i += 10) {
    await Promise.all(
      Array.from({ length: 10 }, async (_, k) => {
        const n = i + k;
        await docs.updateOne({ _id: `d${n % WRITER_DOCUMENTS}` }, { $set: { n, pad: 'x'.repeat(n % 300) } }, { upsert: true });
        process.stdout.write(`${n}\n`);
      }),
    );
  }
}

if (require.main === module) void main(process.argv[2]!, Number(process.argv[3]));
