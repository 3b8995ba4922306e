/**
 * Lets concurrent callers share one round trip to the store. Each event costs several small
 * commands (claim its messageId, look up identities and profiles, record a milestone), and
 * with many events in flight a MongoDB server spends its time on the commands' overhead,
 * not on their work: one `insert` of ten documents costs little more than one of one. The
 * MongoDB adapter shares its inserts and its reads and writes by `_id`; lib code shares a
 * query of its own the same way when each event asks it (see Waits.eventArrived).
 *
 * Calls of one kind queue while `maxInFlight` batches of that kind are at the server; when
 * one returns, what queued meanwhile goes in the next. When the server keeps up, a call
 * waits no more than the rest of its turn of the event loop (calls made in the same turn go
 * together); when it falls behind, batches grow instead of the queue of commands.
 *
 * Sharing never changes what a caller sees: the calls of one batch were all pending at
 * once, so the server was free to run them in any order anyway, and each is sent after
 * it was made, so it sees every write its caller had waited for. */
export interface SharedTripOptions {
  /** How much one batch may carry, in the weight the caller gives each call. */
  maxWeight: number;
  maxInFlight: number;
}

interface Waiting<Req, Res> {
  request: Req;
  weight: number;
  resolve: (value: Res) => void;
  reject: (reason: unknown) => void;
}

export class SharedTrips<Req, Res> {
  private queue: Array<Waiting<Req, Res>> = [];
  private inFlight = 0;
  private scheduled = false;

  /**
   * @param send runs one batch; its answer holds one settled result per request, in order.
   * A rejection fails every call of the batch.
   */
  constructor(
    private readonly send: (requests: Req[]) => Promise<Array<PromiseSettledResult<Res>>>,
    private readonly options: SharedTripOptions,
  ) {}

  submit(request: Req, weight = 1): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      this.queue.push({ request, weight, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.options.maxInFlight || this.queue.length === 0) return;
    this.scheduled = true;
    // The rest of this turn's calls join the batch.
    setImmediate(() => {
      this.scheduled = false;
      this.sendNext();
    });
  }

  private sendNext(): void {
    while (this.inFlight < this.options.maxInFlight && this.queue.length > 0) {
      const batch = this.take();
      this.inFlight += 1;
      this.send(batch.map((w) => w.request))
        .then(
          (results) => {
            batch.forEach((w, i) => {
              const result = results[i];
              if (!result) w.reject(new Error('a shared round trip returned fewer results than it was sent requests'));
              else if (result.status === 'fulfilled') w.resolve(result.value);
              else w.reject(result.reason);
            });
          },
          (err: unknown) => {
            for (const w of batch) w.reject(err);
          },
        )
        .finally(() => {
          this.inFlight -= 1;
          this.schedule();
        });
    }
  }

  /** The calls of the next batch: at least one, then as many as fit its weight. */
  private take(): Array<Waiting<Req, Res>> {
    let weight = this.queue[0]!.weight;
    let n = 1;
    while (n < this.queue.length && weight + this.queue[n]!.weight <= this.options.maxWeight) {
      weight += this.queue[n]!.weight;
      n += 1;
    }
    return this.queue.splice(0, n);
  }
}
