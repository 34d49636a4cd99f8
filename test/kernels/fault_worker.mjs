// A pool worker whose kernel "traps" (throws like a wasm trap) right after claiming a chunk: the pool's
// caller must throw instead of waiting forever for that chunk (test/kernels/wasm_pool.test.ts).
import { parentPort, workerData } from "node:worker_threads";
import { workerLoop } from "../../dist/kernels/wasm/worker_loop.js";
import { COUNTER } from "../../dist/kernels/wasm/jobs.js";

const { module, memory, ctrl, spin, index } = workerData;
const instance = new WebAssembly.Instance(module, { env: { memory } });
const i32 = new Int32Array(memory.buffer);
const ex = {
  ...instance.exports,
  work(c, gen) { // claim one chunk as assembly/index.ts work() does, then trap
    const b = c >> 2, tag = (gen & 0xfff) << 20;
    for (;;) {
      const v = Atomics.load(i32, b + COUNTER);
      if ((v & 0xfff00000) !== tag || (v & 0xfffff) === 0) return;
      if (Atomics.compareExchange(i32, b + COUNTER, v, v - 1) === v) throw new WebAssembly.RuntimeError("unreachable (simulated trap)");
    }
  },
};
workerLoop(ex, i32, ctrl, spin, index, () => parentPort.postMessage("ready"));
