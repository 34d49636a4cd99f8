// The training kernels' WebAssembly module (assembly/train_kernels.ts, embedded by build_kernels.mjs) with
// a bump allocator over one shared WebAssembly.Memory and worker threads that split each matmul's output
// rows. A worker waits on an Atomics word in the memory, so a call costs no event-loop round trip; each
// output element is computed by one thread with the same loop, so results do not depend on the thread
// count. Threads need the built package (the worker is this file as .js); from sources it runs serially.

import * as fs from "node:fs";
import { fileURLToPath } from "node:url";
import { isMainThread, Worker, workerData } from "node:worker_threads";
import type { MatmulRunner } from "../autograd/matmul.js";
import { TRAIN_KERNELS_WASM } from "./train_kernels_wasm.js";

interface Exports {
  matmulNT(out: number, a: number, b: number, M: number, N: number, K: number, m0: number, m1: number, acc: number): void;
  matmulNN(out: number, a: number, b: number, M: number, N: number, K: number, m0: number, m1: number, acc: number): void;
  matmulTN(out: number, a: number, b: number, M: number, N: number, K: number, m0: number, m1: number, acc: number): void;
}

const SELF = fileURLToPath(import.meta.url);
const PAGE = 65536, ALIGN = 64, HEAP_BASE = 65536;
// control words (Int32 at CTRL): generation, done count, op, quit, then args
const GEN = 0, DONE = 1, OPW = 2, QUIT = 3, ARG = 4;
const OPS = ["matmulNT", "matmulNN", "matmulTN"] as const;

let moduleCache: WebAssembly.Module | null = null;
function kernelModule(): WebAssembly.Module {
  return (moduleCache ??= new WebAssembly.Module(Buffer.from(TRAIN_KERNELS_WASM, "base64")));
}

/** Row range of thread w of `threads` for M rows, in blocks of 4. */
function rowsFor(w: number, threads: number, M: number): [number, number] {
  const blocks = Math.ceil(M / 4);
  return [Math.min(M, Math.floor((blocks * w) / threads) * 4), Math.min(M, Math.floor((blocks * (w + 1)) / threads) * 4)];
}

export interface WasmTrainKernels extends MatmulRunner {
  readonly threads: number;
  /** Bytes allocated in the wasm memory. */
  memoryBytes(): number;
  dispose(): void;
}

/** Whether worker threads can run the kernels (the built .js exists). */
export function wasmThreadsAvailable(): boolean {
  return SELF.endsWith(".js") && fs.existsSync(SELF);
}

export async function createWasmTrainKernels(threads = 1): Promise<WasmTrainKernels> {
  if (!wasmThreadsAvailable()) threads = 1;
  const memory = new WebAssembly.Memory({ initial: 17, maximum: 65536, shared: true });
  const ex = new WebAssembly.Instance(kernelModule(), { env: { memory } }).exports as unknown as Exports;
  let top = HEAP_BASE;
  const allocBytes = (bytes: number): number => {
    const ptr = Math.ceil(top / ALIGN) * ALIGN, end = ptr + bytes;
    if (end > 0xffff_0000) throw new RangeError(`training kernels: out of wasm memory (${(end / 2 ** 30).toFixed(2)} GiB needed, 4 GiB addressable)`);
    if (end > memory.buffer.byteLength) memory.grow(Math.ceil((end - memory.buffer.byteLength) / PAGE));
    top = end;
    return ptr;
  };
  const CTRL = allocBytes(64);
  const ctrl = new Int32Array(memory.buffer, CTRL, 16);
  const workers: Worker[] = [];
  for (let w = 1; w < threads; w++) {
    const worker = new Worker(SELF, { workerData: { trainKernels: true, module: kernelModule(), memory, ctrl: CTRL, index: w, threads } });
    worker.unref();
    await new Promise<void>((res, rej) => { worker.once("message", () => res()); worker.once("error", rej); });
    workers.push(worker);
  }
  const run = (op: number, out: Float32Array, a: Float32Array, b: Float32Array, M: number, N: number, K: number, acc: boolean) => {
    for (const [arr, what] of [[out, "out"], [a, "A"], [b, "B"]] as const)
      if (arr.buffer !== memory.buffer && (arr.buffer as SharedArrayBuffer).byteLength > memory.buffer.byteLength)
        throw new Error(`training kernels: ${what} is not in the kernels' memory`);
    const args = [out.byteOffset, a.byteOffset, b.byteOffset, M, N, K, acc ? 1 : 0];
    const fn = ex[OPS[op]];
    if (threads === 1 || M < 4 * threads) { fn(args[0], args[1], args[2], M, N, K, 0, M, args[6]); return; }
    ctrl[OPW] = op;
    for (let i = 0; i < args.length; i++) ctrl[ARG + i] = args[i];
    Atomics.store(ctrl, DONE, 0);
    Atomics.add(ctrl, GEN, 1);
    Atomics.notify(ctrl, GEN);
    const [lo, hi] = rowsFor(0, threads, M);
    if (lo < hi) fn(args[0], args[1], args[2], M, N, K, lo, hi, args[6]);
    for (let spins = 0; ; spins++) {
      const d = Atomics.load(ctrl, DONE);
      if (d === threads - 1) break;
      if (spins > 2000) Atomics.wait(ctrl, DONE, d, 1);
    }
  };
  return {
    name: `wasm-simd ×${threads}`,
    threads,
    memoryBytes: () => top,
    alloc(n) {
      const ptr = allocBytes(n * 4);
      return new Float32Array(memory.buffer, ptr, n);
    },
    abt: (out, a, b, M, N, K, acc) => run(0, out, a, b, M, N, K, acc),
    nn: (out, a, b, M, N, K, acc) => run(1, out, a, b, M, N, K, acc),
    tn: (out, a, b, M, N, K, acc) => run(2, out, a, b, M, N, K, acc),
    dispose() {
      Atomics.store(ctrl, QUIT, 1);
      Atomics.add(ctrl, GEN, 1);
      Atomics.notify(ctrl, GEN);
    },
  };
}

if (!isMainThread && (workerData as { trainKernels?: boolean })?.trainKernels) {
  const { module, memory, ctrl: at, index, threads } = workerData as { module: WebAssembly.Module; memory: WebAssembly.Memory; ctrl: number; index: number; threads: number };
  const ex = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as Exports;
  const ctrl = new Int32Array(memory.buffer, at, 16);
  const { parentPort } = await import("node:worker_threads");
  parentPort!.postMessage("ready");
  let seen = Atomics.load(ctrl, GEN);
  for (;;) {
    for (let spins = 0; Atomics.load(ctrl, GEN) === seen; spins++) if (spins > 2000) Atomics.wait(ctrl, GEN, seen, 50);
    seen = Atomics.load(ctrl, GEN);
    if (Atomics.load(ctrl, QUIT)) break;
    const M = ctrl[ARG + 3];
    const [lo, hi] = rowsFor(index, threads, M);
    if (lo < hi) ex[OPS[ctrl[OPW]]](ctrl[ARG], ctrl[ARG + 1], ctrl[ARG + 2], M, ctrl[ARG + 4], ctrl[ARG + 5], lo, hi, ctrl[ARG + 6]);
    Atomics.add(ctrl, DONE, 1);
    Atomics.notify(ctrl, DONE);
  }
}
