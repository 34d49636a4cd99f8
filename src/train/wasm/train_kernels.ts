// The training kernels' WebAssembly module (assembly/train_kernels.ts, embedded by build_kernels.mjs) with
// a bump allocator over one shared WebAssembly.Memory and worker threads that split each matmul's output
// rows. A worker waits on an Atomics word in the memory, so a call costs no event-loop round trip; each
// output element is computed by one thread with the same loop, so results do not depend on the thread
// count. Threads need the built package (the worker is this file as .js); from sources it runs serially.

import * as fs from "node:fs";
import { fileURLToPath } from "node:url";
import { isMainThread, Worker, workerData } from "node:worker_threads";
import type { MatmulRunner } from "../autograd/matmul.js";
import { TRAIN_KERNELS_RELAXED_WASM, TRAIN_KERNELS_WASM } from "./train_kernels_wasm.js";

interface Exports {
  swigluForward(out: number, gu: number, F: number, m0: number, m1: number): void;
  swigluBackward(dgu: number, dout: number, gu: number, F: number, m0: number, m1: number): void;
  transpose(out: number, x: number, rows: number, cols: number, stride: number, c0: number, m0: number, m1: number): void;
  ceForward(logits: number, V: number, targets: number, lse: number, tl: number, m0: number, m1: number): void;
  ceBackward(logits: number, V: number, targets: number, lse: number, cs: number, zs: number, m0: number, m1: number): void;
  matmulNT(out: number, a: number, b: number, M: number, N: number, K: number, acc: number, m0: number, m1: number): void;
  matmulNN(out: number, a: number, b: number, M: number, N: number, K: number, acc: number, m0: number, m1: number): void;
  matmulTN(out: number, a: number, b: number, M: number, N: number, K: number, acc: number, m0: number, m1: number): void;
}

const SELF = fileURLToPath(import.meta.url);
const PAGE = 65536, ALIGN = 64, HEAP_BASE = 65536;
// control words (Int32 at CTRL): generation, done count, op, quit, arg count, float-arg mask, rows, then args
const GEN = 0, DONE = 1, OPW = 2, QUIT = 3, NARGS = 4, FMASK = 5, ROWS = 6, ERR = 7, ARG = 8, CTRL_WORDS = 32;
const OPS = ["matmulNT", "matmulNN", "matmulTN", "ceForward", "ceBackward", "transpose", "swigluForward", "swigluBackward"] as const;
type Kernel = (...args: number[]) => void;

let moduleCache: { module: WebAssembly.Module; relaxed: boolean } | null = null;
/**
 * The relaxed-SIMD build (fused multiply-add, ~1.4× the matmul throughput) when the runtime validates it
 * (Node 20 needs V8's --experimental-wasm-relaxed-simd, which `openelm train` sets), else the plain one.
 */
function kernelModule(): { module: WebAssembly.Module; relaxed: boolean } {
  if (moduleCache) return moduleCache;
  const relaxed = Buffer.from(TRAIN_KERNELS_RELAXED_WASM, "base64");
  moduleCache = WebAssembly.validate(relaxed)
    ? { module: new WebAssembly.Module(relaxed), relaxed: true }
    : { module: new WebAssembly.Module(Buffer.from(TRAIN_KERNELS_WASM, "base64")), relaxed: false };
  return moduleCache;
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
  const { module, relaxed } = kernelModule();
  const ex = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as Exports;
  let top = HEAP_BASE;
  const allocBytes = (bytes: number): number => {
    const ptr = Math.ceil(top / ALIGN) * ALIGN, end = ptr + bytes;
    if (end > 0xffff_0000) throw new RangeError(`training kernels: out of wasm memory (${(end / 2 ** 30).toFixed(2)} GiB needed, 4 GiB addressable)`);
    if (end > memory.buffer.byteLength) memory.grow(Math.ceil((end - memory.buffer.byteLength) / PAGE));
    top = end;
    return ptr;
  };
  const CTRL = allocBytes(CTRL_WORDS * 4);
  const ctrl = new Int32Array(memory.buffer, CTRL, CTRL_WORDS);
  const workers: Worker[] = [];
  for (let w = 1; w < threads; w++) {
    const worker = new Worker(SELF, { workerData: { trainKernels: true, module, memory, ctrl: CTRL, index: w, threads } });
    worker.unref();
    await new Promise<void>((res, rej) => { worker.once("message", () => res()); worker.once("error", rej); });
    workers.push(worker);
  }
  const ctrlF = new Float32Array(memory.buffer, CTRL, CTRL_WORDS);
  /** Run kernel `op` over rows [0, rows) split across threads; args precede (m0, m1); fmask marks float args. */
  const run = (op: number, rows: number, args: number[], fmask = 0) => {
    const fn = ex[OPS[op]] as unknown as Kernel;
    if (threads === 1 || rows < 4 * threads) { fn(...args, 0, rows); return; }
    ctrl[OPW] = op; ctrl[NARGS] = args.length; ctrl[FMASK] = fmask; ctrl[ROWS] = rows;
    for (let i = 0; i < args.length; i++) { if (fmask & (1 << i)) ctrlF[ARG + i] = args[i]; else ctrl[ARG + i] = args[i]; }
    Atomics.store(ctrl, DONE, 0);
    Atomics.add(ctrl, GEN, 1);
    Atomics.notify(ctrl, GEN);
    const [lo, hi] = rowsFor(0, threads, rows);
    if (lo < hi) fn(...args, lo, hi);
    for (let spins = 0; ; spins++) {
      const d = Atomics.load(ctrl, DONE);
      if (d === threads - 1) break;
      if (spins > 2000) Atomics.wait(ctrl, DONE, d, 1);
    }
    if (Atomics.load(ctrl, ERR)) throw new Error(`training kernels: ${OPS[op]} failed in a worker thread`);
  };
  const mine = (a: ArrayBufferView, what: string): number => {
    if (a.buffer !== memory.buffer && (a.buffer as SharedArrayBuffer).byteLength > memory.buffer.byteLength)
      throw new Error(`training kernels: ${what} is not in the kernels' memory`);
    return a.byteOffset;
  };
  const mm = (op: number) => (out: Float32Array, a: Float32Array, b: Float32Array, M: number, N: number, K: number, acc: boolean) =>
    run(op, M, [mine(out, "out"), mine(a, "A"), mine(b, "B"), M, N, K, acc ? 1 : 0]);
  return {
    name: `wasm-simd${relaxed ? "-fma" : ""} ×${threads}`,
    threads,
    memoryBytes: () => top,
    alloc(n) {
      const ptr = allocBytes(n * 4);
      return new Float32Array(memory.buffer, ptr, n);
    },
    allocI32(n) {
      const ptr = allocBytes(n * 4);
      return new Int32Array(memory.buffer, ptr, n);
    },
    abt: mm(0),
    nn: mm(1),
    tn: mm(2),
    transpose(out, x, rows, cols, stride, c0) {
      run(5, cols, [mine(out, "out"), mine(x, "x"), rows, cols, stride, c0]);
    },
    swigluForward(out, gu, N, F) { run(6, N, [mine(out, "out"), mine(gu, "gu"), F]); },
    swigluBackward(dgu, dout, gu, N, F) { run(7, N, [mine(dgu, "dgu"), mine(dout, "dout"), mine(gu, "gu"), F]); },
    ceForward(lse, tl, logits, targets, N, V) {
      run(3, N, [mine(logits, "logits"), V, mine(targets, "targets"), mine(lse, "lse"), mine(tl, "tl")]);
    },
    ceBackward(logits, lse, targets, N, V, cs, zs) {
      run(4, N, [mine(logits, "logits"), V, mine(targets, "targets"), mine(lse, "lse"), cs, zs], 0b110000);
    },
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
  const ctrl = new Int32Array(memory.buffer, at, CTRL_WORDS), ctrlF = new Float32Array(memory.buffer, at, CTRL_WORDS);
  const { parentPort } = await import("node:worker_threads");
  let seen = Atomics.load(ctrl, GEN); // before "ready": the first job may follow the message at once
  parentPort!.postMessage("ready");
  for (;;) {
    for (let spins = 0; Atomics.load(ctrl, GEN) === seen; spins++) if (spins > 2000) Atomics.wait(ctrl, GEN, seen, 50);
    seen = Atomics.load(ctrl, GEN);
    if (Atomics.load(ctrl, QUIT)) break;
    const n = ctrl[NARGS], fmask = ctrl[FMASK], args: number[] = [];
    for (let i = 0; i < n; i++) args.push(fmask & (1 << i) ? ctrlF[ARG + i] : ctrl[ARG + i]);
    const [lo, hi] = rowsFor(index, threads, ctrl[ROWS]);
    try { if (lo < hi) (ex[OPS[ctrl[OPW]]] as unknown as Kernel)(...args, lo, hi); } catch { Atomics.store(ctrl, ERR, 1); }
    Atomics.add(ctrl, DONE, 1);
    Atomics.notify(ctrl, DONE);
  }
}
