// The loop a pool worker runs: spin on the job generation for a while (waking through Atomics.wait costs
// ~70 µs, a spin ~1 µs), then sleep on it; on a new generation, claim chunks until none are left.
// No host APIs here, so a browser Worker can run it as well as a Node worker_thread.

import { ACTIVE, DONE, FAULT, GEN, SLEEPERS, STOP, TRAPPED, type KernelExports } from "./jobs.js";

/**
 * index: this worker's thread number (1 … threads-1). ready() is called once the current generation is
 * read, so no job published after the pool hears "ready" can be missed.
 */
export function workerLoop(ex: KernelExports, i32: Int32Array, ctrl: number, spin: number, index: number, ready: () => void): void {
  const base = ctrl >> 2;
  ex.setThread(index);
  let seen = Atomics.load(i32, base + GEN);
  ready();
  for (;;) {
    let g = Atomics.load(i32, base + GEN);
    let n = 0;
    while (g === seen) {
      if (++n > spin) {
        Atomics.add(i32, base + SLEEPERS, 1);
        Atomics.wait(i32, base + GEN, seen);
        Atomics.sub(i32, base + SLEEPERS, 1);
        n = 0;
      }
      g = Atomics.load(i32, base + GEN);
    }
    seen = g;
    if (Atomics.load(i32, base + STOP) !== 0) return;
    if (index < Atomics.load(i32, base + ACTIVE)) {
      try {
        ex.work(ctrl, g);
      } catch {
        // A trap (a kernel bug or a bad job) left a claimed chunk unfinished: tell the caller, which would
        // otherwise wait for it forever, and stay available for the next job. A trap ends work(), so this
        // thread left exactly one claimed chunk unfinished; counting it in TRAPPED (after FAULT) settles it.
        Atomics.store(i32, base + FAULT, index);
        Atomics.add(i32, base + TRAPPED, 1);
        Atomics.notify(i32, base + DONE);
      }
    }
  }
}
