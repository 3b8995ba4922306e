/**
 * At most `size` holders at once; the others wait their turn, first come first served. A
 * provider that queues sends inside itself (nodemailer's pool) lends its slots before a
 * delivery is claimed, so a delivery is `sending` only while it is really being handed over:
 * one a crash catches still queued inside the provider would otherwise end unknown-outcome
 * although it never left. The outbox gives a slot back as soon as the provider answers, not
 * once the outcome is recorded: the connection is free by then.
 */
export class Slots {
  private busy = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly size: number) {}

  /** Resolves with the function that gives the slot back (once; a second call does nothing). */
  async take(): Promise<() => void> {
    if (this.busy < this.size) this.busy += 1;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    let given = false;
    return () => {
      if (given) return;
      given = true;
      const next = this.waiting.shift();
      // Handed straight to the next in line: `busy` stays as it is.
      if (next) next();
      else this.busy -= 1;
    };
  }
}
