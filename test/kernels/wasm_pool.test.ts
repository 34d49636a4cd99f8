// The kernel pool when a worker's kernel traps: the calling thread gets an error naming the worker and
// the op instead of waiting forever for the chunk that worker claimed, but only once every chunk other
// workers claimed has finished (so none runs, or counts, into the next job), and the pool stays usable.
import { expect, test } from "vitest";
import * as fs from "node:fs";
import { Worker } from "node:worker_threads";
import { Arena } from "../../src/kernels/wasm/arena.js";
import { KernelPool, type PoolWorker } from "../../src/kernels/wasm/pool.js";
import { ARGS, CTRL_BYTES, DONE, FAULT, OP, Op, TRAPPED, type KernelExports } from "../../src/kernels/wasm/jobs.js";

const wasm = new URL("../../dist/kernels/wasm/kernels.wasm", import.meta.url);

const spawnWith = (mode: (index: number) => "trap" | "slow", flag = 0) => (module: WebAssembly.Module, memory: WebAssembly.Memory, ctrl: number, spin: number, index: number): PoolWorker => {
  const worker = new Worker(new URL("./fault_worker.mjs", import.meta.url), { workerData: { module, memory, ctrl, spin, index, mode: mode(index), flag } });
  worker.unref();
  const ready = new Promise<void>((resolve, reject) => { worker.once("message", () => resolve()); worker.once("error", reject); });
  return { ready, terminate: () => void worker.terminate() };
};
const spawnFaulty = spawnWith(() => "trap");

test("a worker that traps makes run() throw, and the pool still runs jobs afterwards", async () => {
  const module = new WebAssembly.Module(fs.readFileSync(wasm));
  const memory = new WebAssembly.Memory({ initial: 256, maximum: 65536, shared: true });
  const real = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as KernelExports;
  const arena = new Arena(memory, 65536);
  const ctrl = arena.allocBytes(CTRL_BYTES);
  // The calling thread starts its share only once the worker has claimed (and trapped on) a chunk, so the
  // test does not depend on which thread gets there first on a busy machine.
  const i32all = new Int32Array(memory.buffer);
  const ex: KernelExports = { ...real, work(c, gen) {
    for (let n = 0; Atomics.load(i32all, (c >> 2) + FAULT) === 0 && n < 200; n++) Atomics.wait(i32all, (c >> 2) + DONE, 0, 50);
    real.work(c, gen);
  } };
  const pool = await KernelPool.create(ex, module, memory, ctrl, 2, spawnFaulty, 1e9);
  const n = 1 << 20;
  const x = arena.f32(n), y = arena.f32(n);
  x.fill(1); y.fill(2);
  const i32 = new Int32Array(memory.buffer, ctrl, CTRL_BYTES / 4);
  const addJob = () => { i32[OP] = Op.add; i32[ARGS] = x.byteOffset; i32[ARGS + 1] = y.byteOffset; };
  addJob();
  expect(() => pool.run(n, 1024)).toThrow(`wasm kernel pool: worker 1 trapped in job op ${Op.add} (${n} items); the job's output is incomplete`);
  // one thread only: the caller runs every chunk itself
  pool.setActive(1);
  x.fill(1);
  addJob();
  pool.run(n, 1024);
  expect(x.every((v) => v === 3)).toBe(true);
  pool.dispose();
});

test("with two workers, run() throws only after the chunk the other worker claimed has finished", async () => {
  const module = new WebAssembly.Module(fs.readFileSync(wasm));
  const memory = new WebAssembly.Memory({ initial: 256, maximum: 65536, shared: true });
  const real = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as KernelExports;
  const arena = new Arena(memory, 65536);
  const ctrl = arena.allocBytes(CTRL_BYTES);
  const flag = arena.allocBytes(16);
  const i32all = new Int32Array(memory.buffer);
  // The caller starts its share once worker 1 has trapped and worker 2 holds a chunk (for 200 ms).
  const ex: KernelExports = { ...real, work(c, gen) {
    for (let n = 0; (Atomics.load(i32all, (c >> 2) + FAULT) === 0 || Atomics.load(i32all, flag >> 2) === 0) && n < 400; n++) Atomics.wait(i32all, (c >> 2) + DONE, 0, 50);
    real.work(c, gen);
  } };
  const pool = await KernelPool.create(ex, module, memory, ctrl, 3, spawnWith((i) => (i === 1 ? "trap" : "slow"), flag), 1e9);
  const n = 1 << 16, chunk = 1024;
  const x = arena.f32(n), y = arena.f32(n);
  x.fill(1); y.fill(2);
  const i32 = new Int32Array(memory.buffer, ctrl, CTRL_BYTES / 4);
  i32[OP] = Op.add; i32[ARGS] = x.byteOffset; i32[ARGS + 1] = y.byteOffset;
  expect(() => pool.run(n, chunk)).toThrow(`wasm kernel pool: worker 1 trapped in job op ${Op.add} (${n} items); the job's output is incomplete`);
  expect(Atomics.load(i32all, flag >> 2)).toBe(1);
  const r0 = Atomics.load(i32all, (flag >> 2) + 1);
  // worker 2's chunk was done before run() returned (the caller waited for it)
  expect(Array.from(x.subarray(r0, r0 + chunk)).every((v) => v === 3)).toBe(true);
  expect(Atomics.load(i32, DONE) + Atomics.load(i32, TRAPPED)).toBe(n / chunk); // every chunk settled: nothing left in flight
  // the pool still runs jobs (on the calling thread: worker 1 traps on anything)
  pool.setActive(1);
  x.fill(1);
  i32[OP] = Op.add; i32[ARGS] = x.byteOffset; i32[ARGS + 1] = y.byteOffset;
  pool.run(n, chunk);
  expect(x.every((v) => v === 3)).toBe(true);
  pool.dispose();
});
