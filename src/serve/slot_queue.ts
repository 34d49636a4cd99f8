// Admission for the server: at most `slots` generations hold a KV cache at once; the rest wait in
// arrival order (first come, first served), and a full waiting line answers 503 instead of growing.
// A waiter whose client goes away leaves the line at once. (llama.cpp server: n_parallel slots + queue.)

export class SlotQueue {
  private active = 0;
  private waiting: Array<{ grant: () => void }> = [];

  constructor(readonly slots: number, readonly maxWaiting: number) {}

  get running(): number { return this.active; }
  get queued(): number { return this.waiting.length; }

  /**
   * Wait for a slot. Resolves to a release function (call it exactly once), or null when `signal`
   * aborted first; "full" when the waiting line is at its limit.
   */
  acquire(signal: AbortSignal): Promise<(() => void) | null> | "full" {
    if (signal.aborted) return Promise.resolve(null);
    if (this.active < this.slots) { this.active++; return Promise.resolve(this.releaser()); }
    if (this.waiting.length >= this.maxWaiting) return "full";
    return new Promise((resolve) => {
      const entry = { grant: () => { signal.removeEventListener("abort", onAbort); resolve(this.releaser()); } };
      const onAbort = () => {
        const i = this.waiting.indexOf(entry);
        if (i >= 0) this.waiting.splice(i, 1);
        resolve(null);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.waiting.push(entry);
    });
  }

  private releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.waiting.shift();
      if (next) next.grant(); // the slot passes straight to the next in line
      else this.active--;
    };
  }
}
