/** Concurrent callers sharing round trips: who goes together, and who hears what. */
import { expect } from 'chai';
import { SharedTrips } from '../../lib/store/shared-trips.js';

/** A server stand-in that records each batch and answers when the test lets it. */
function recordingServer(answer: (request: number) => PromiseSettledResult<number> = (n) => ({ status: 'fulfilled', value: n * 10 })) {
  const batches: number[][] = [];
  const pending: Array<() => void> = [];
  const send = (requests: number[]) => {
    batches.push(requests);
    return new Promise<Array<PromiseSettledResult<number>>>((resolve) => pending.push(() => resolve(requests.map(answer))));
  };
  const releaseAll = () => {
    for (const release of pending.splice(0)) release();
  };
  return { batches, send, releaseAll, waiting: () => pending.length };
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('shared round trips', () => {
  it('sends the calls of one turn together and answers each its own result', async () => {
    const server = recordingServer();
    const trips = new SharedTrips(server.send, { maxWeight: 100, maxInFlight: 1 });
    const answers = Promise.all([1, 2, 3].map((n) => trips.submit(n)));
    await turn();
    server.releaseAll();
    expect(await answers).to.deep.equal([10, 20, 30]);
    expect(server.batches).to.deep.equal([[1, 2, 3]]);
  });

  it('queues calls while the batches allowed are at the server, then sends them as one', async () => {
    const server = recordingServer();
    const trips = new SharedTrips(server.send, { maxWeight: 100, maxInFlight: 2 });
    const first = trips.submit(1);
    await turn();
    const second = trips.submit(2);
    await turn();
    expect(server.batches).to.deep.equal([[1], [2]]);
    const later = [3, 4, 5].map((n) => trips.submit(n));
    await turn();
    await turn();
    expect(server.waiting(), 'two in flight, the rest wait').to.equal(2);
    server.releaseAll();
    expect(await Promise.all([first, second])).to.deep.equal([10, 20]);
    await turn();
    expect(server.batches).to.deep.equal([[1], [2], [3, 4, 5]]);
    server.releaseAll();
    expect(await Promise.all(later)).to.deep.equal([30, 40, 50]);
  });

  it('caps a batch by weight, yet always sends a call heavier than the cap', async () => {
    const server = recordingServer();
    const trips = new SharedTrips(server.send, { maxWeight: 5, maxInFlight: 3 });
    const answers = Promise.all([trips.submit(1, 3), trips.submit(2, 2), trips.submit(3, 1), trips.submit(4, 9)]);
    await turn();
    server.releaseAll();
    await answers;
    expect(server.batches).to.deep.equal([[1, 2], [3], [4]]);
  });

  it('fails only the call the server refused, and every call of a batch that failed whole', async () => {
    const refusing = recordingServer((n) => (n === 2 ? { status: 'rejected', reason: new Error('refused 2') } : { status: 'fulfilled', value: n }));
    const trips = new SharedTrips(refusing.send, { maxWeight: 10, maxInFlight: 1 });
    const outcomes = Promise.allSettled([1, 2, 3].map((n) => trips.submit(n)));
    await turn();
    refusing.releaseAll();
    expect((await outcomes).map((o) => (o.status === 'fulfilled' ? o.value : (o.reason as Error).message))).to.deep.equal([1, 'refused 2', 3]);

    const down = new SharedTrips<number, number>(() => Promise.reject(new Error('connection reset')), { maxWeight: 10, maxInFlight: 1 });
    const all = await Promise.allSettled([down.submit(1), down.submit(2)]);
    expect(all.map((o) => o.status === 'rejected' && (o.reason as Error).message)).to.deep.equal(['connection reset', 'connection reset']);
    // After a failed batch the next call still goes.
    const up = recordingServer();
    const recovering = new SharedTrips(
      (requests: number[]) => (requests[0] === 1 ? Promise.reject(new Error('once')) : up.send(requests)),
      { maxWeight: 1, maxInFlight: 1 },
    );
    const [a, b] = [recovering.submit(1), recovering.submit(2)];
    await a.catch(() => undefined);
    await turn();
    up.releaseAll();
    expect(await b).to.equal(20);
  });
});
