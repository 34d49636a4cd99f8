// Pool workers that misbehave on purpose (test/kernels/wasm_pool.test.ts). workerData.mode:
//   "trap": claim a chunk, then "trap" (throw like a wasm trap) right after claiming it;
//   "slow": claim a chunk, note it at workerData.flag (flag[0] = 1, flag[1] = the chunk's first item), wait
//           200 ms, run it, count it in DONE, then work normally: a chunk in flight when another worker traps.
import { parentPort, workerData } from "node:worker_threads";
import { workerLoop } from "../../dist/kernels/wasm/worker_loop.js";
import { CHUNK, COUNTER, DONE, NITEMS } from "../../dist/kernels/wasm/jobs.js";

const { module, memory, ctrl, spin, index, mode, flag } = workerData;
const instance = new WebAssembly.Instance(module, { env: { memory } });
const i32 = new Int32Array(memory.buffer);
const claim = (c, gen) => { // as assembly/index.ts work() claims: the chunk index, or -1
  const b = c >> 2, tag = (gen & 0xfff) << 20;
  for (;;) {
    const v = Atomics.load(i32, b + COUNTER);
    if ((v & 0xfff00000) !== tag || (v & 0xfffff) === 0) return -1;
    if (Atomics.compareExchange(i32, b + COUNTER, v, v - 1) === v) return (v & 0xfffff) - 1;
  }
};
const ex = {
  ...instance.exports,
  work(c, gen) {
    const idx = claim(c, gen);
    if (idx < 0) return;
    if (mode === "trap") throw new WebAssembly.RuntimeError("unreachable (simulated trap)");
    const b = c >> 2, r0 = idx * i32[b + CHUNK], r1 = Math.min(i32[b + NITEMS], r0 + i32[b + CHUNK]);
    Atomics.store(i32, (flag >> 2) + 1, r0);
    Atomics.store(i32, flag >> 2, 1);
    Atomics.wait(i32, (flag >> 2) + 2, 0, 200);
    instance.exports.runRange(c, r0, r1);
    Atomics.add(i32, b + DONE, 1);
    instance.exports.work(c, gen);
  },
};
workerLoop(ex, i32, ctrl, spin, index, () => parentPort.postMessage("ready"));
