// A persistent pool of workers over one shared WebAssembly.Memory. The calling thread takes part in every
// job: it publishes the job (generation + chunk counter in the control block, see jobs.ts), wakes sleeping
// workers only when some are asleep, claims chunks itself, then waits for the chunks others claimed.
// Chunks claimed through an atomic counter (not fixed halves) degrade gracefully when another process
// takes a core. Spawning is injected (spawn), so only the caller knows whether workers are Node
// worker_threads or browser Workers.

import { ACTIVE, COUNTER, DONE, FAULT, GEN, NITEMS, CHUNK, SLEEPERS, STOP, OP, TRAPPED, type KernelExports } from "./jobs.js";

export interface PoolWorker {
  /** Resolves once the worker has instantiated the module and entered its loop. */
  ready: Promise<void>;
  terminate(): void;
}

/** index: the worker's thread number, 1 … threads-1. */
export type SpawnWorker = (module: WebAssembly.Module, memory: WebAssembly.Memory, ctrl: number, spin: number, index: number) => PoolWorker;

export class KernelPool {
  private gen = 0;
  private active: number;
  private readonly base: number;
  private constructor(private readonly ex: KernelExports, private readonly i32: Int32Array, private readonly ctrl: number,
    private readonly workers: PoolWorker[]) {
    this.base = ctrl >> 2;
    this.active = workers.length + 1;
    Atomics.store(i32, this.base + ACTIVE, this.active);
  }

  /** threads counts the calling thread: threads - 1 workers are spawned. */
  static async create(ex: KernelExports, module: WebAssembly.Module, memory: WebAssembly.Memory, ctrl: number,
    threads: number, spawn: SpawnWorker, spin = 200_000): Promise<KernelPool> {
    const workers: PoolWorker[] = [];
    for (let i = 1; i < threads; i++) workers.push(spawn(module, memory, ctrl, spin, i));
    await Promise.all(workers.map((w) => w.ready));
    return new KernelPool(ex, new Int32Array(memory.buffer), ctrl, workers);
  }

  /** Threads taking part in jobs now. */
  get threads(): number { return this.active; }

  /** Use only n of the pool's threads (1 … size); the others sleep. */
  setActive(n: number): void {
    if (!Number.isInteger(n) || n < 1 || n > this.workers.length + 1)
      throw new RangeError(`KernelPool.setActive(${n}): expected 1 … ${this.workers.length + 1}`);
    this.active = n;
    Atomics.store(this.i32, this.base + ACTIVE, n);
  }

  /** Run the job already written at ctrl (op and args) over nItems items in chunks of `chunk`. */
  run(nItems: number, chunk: number): void {
    const i32 = this.i32, b = this.base;
    const nChunks = Math.ceil(nItems / chunk);
    i32[b + NITEMS] = nItems;
    i32[b + CHUNK] = chunk;
    if (this.active <= 1 || nChunks <= 1) {
      this.ex.runRange(this.ctrl, 0, nItems);
      return;
    }
    if (nChunks > 0xfffff) throw new RangeError(`KernelPool.run: ${nChunks} chunks, at most ${0xfffff}`);
    const gen = this.gen = (this.gen + 1) & 0x7fffffff;
    Atomics.store(i32, b + DONE, 0);
    Atomics.store(i32, b + TRAPPED, 0);
    Atomics.store(i32, b + COUNTER, ((gen & 0xfff) << 20) | nChunks);
    Atomics.store(i32, b + GEN, gen);
    if (Atomics.load(i32, b + SLEEPERS) > 0) Atomics.notify(i32, b + GEN);
    let own: unknown = null;
    try {
      this.ex.work(this.ctrl, gen);
    } catch (e) {
      own = e; // this thread's chunk trapped: like a worker's, it never counts in DONE
      Atomics.add(i32, b + TRAPPED, 1);
    }
    // Chunks another thread claimed are in flight: spin briefly, then yield the core in short sleeps. After a
    // trap, take the unclaimed chunks away (a thread reading the counter later claims nothing) and still wait
    // for every claimed chunk to finish or trap, so no thread touches this job's buffers, or counts in DONE,
    // once run() has returned and the next job's arguments are written.
    let claimed = nChunks, closed = false;
    for (let n = 0; ; ) {
      const d = Atomics.load(i32, b + DONE);
      if (!closed && (own !== null || Atomics.load(i32, b + FAULT) !== 0)) {
        closed = true;
        claimed = nChunks - (Atomics.exchange(i32, b + COUNTER, (gen & 0xfff) << 20) & 0xfffff);
      }
      if (d + Atomics.load(i32, b + TRAPPED) === claimed) break;
      if (++n > 20_000) Atomics.wait(i32, b + DONE, d, 0.05);
    }
    // A worker stores FAULT before it counts its trapped chunk, so every fault of this job is visible here.
    if (own === null && Atomics.load(i32, b + TRAPPED) === 0) return;
    const fault = Atomics.exchange(i32, b + FAULT, 0);
    const what = `job op ${i32[b + OP]} (${nItems} items); the job's output is incomplete`;
    if (fault !== 0) throw new Error(`wasm kernel pool: worker ${fault} trapped in ${what}`);
    throw new Error(`wasm kernel pool: the calling thread trapped in ${what}: ${own instanceof Error ? own.message : String(own)}`);
  }

  dispose(): void {
    const i32 = this.i32, b = this.base;
    Atomics.store(i32, b + STOP, 1);
    Atomics.add(i32, b + GEN, 1);
    Atomics.notify(i32, b + GEN);
    for (const w of this.workers) w.terminate();
    this.workers.length = 0;
  }
}
