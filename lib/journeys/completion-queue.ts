/**
 * Gathers the instances whose msgs have left the flow and completes them a batch at a
 * time. Completing each as its msg finished started writes without bound: under an audience
 * run or an event burst they outran the store, piled up in memory and slowed everything
 * else; one batch in flight keeps the store's load and this queue's memory bounded.
 */
export class CompletionQueue {
  private pending: string[] = [];
  private timer: NodeJS.Timeout | null = null;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly complete: (instanceIds: string[]) => Promise<unknown>,
    private readonly failed: (err: Error, instanceIds: string[]) => void,
    private readonly options = { maxBatch: 500, delayMs: 20 },
  ) {}

  add(instanceId: string): void {
    this.pending.push(instanceId);
    if (this.pending.length >= this.options.maxBatch) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.options.delayMs);
  }

  /** Completes everything added so far; resolves when it is written (or has failed and been reported). */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.chain = this.chain.then(async () => {
      const batch = this.pending.splice(0, this.options.maxBatch);
      if (batch.length === 0) return;
      await this.complete(batch).catch((err: Error) => this.failed(err, batch));
      // Added while this batch was written: the next batch follows at once.
      if (this.pending.length > 0) void this.flush();
    });
    return this.chain;
  }

  /** Resolves when nothing is pending or being written. */
  async drain(): Promise<void> {
    while (this.pending.length > 0 || this.timer) await this.flush();
    await this.chain;
  }
}
