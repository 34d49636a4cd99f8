// The WebAssembly backend: AssemblyScript SIMD kernels (assembly/*.ts, built to dist/kernels/wasm/*.wasm)
// over one shared WebAssembly.Memory, run by a pool of workers. createWasmBackend is the Node entry: it
// finds and compiles the module (the relaxed-SIMD build when the runtime validates it) and starts
// worker_threads; browsers pass their compiled module and Web Workers to createWasmBackendOn (web_host.ts).
// The rest copies weights into the memory and turns each Backend call into a job (jobs.ts) with shapes
// and byte offsets.
// Buffers from alloc() are views of the memory; kernels read their pointers from byteOffset.

import * as fs from "node:fs";
import * as os from "node:os";
import { Worker } from "node:worker_threads";
import type { Backend, Matrix } from "../backend.js";
import type { StoredTensor } from "../../tensor/tensor.js";
import { bytesFor, numel, readTensorBytes, toFloat32, type QuantDType } from "../../tensor/tensor.js";
import { dequantizeRow } from "../quant.js";
import { ropeInvFreq } from "../ref/qk_norm_rope.js";
import { copyRows as copyRowsRef } from "../ref/copy_rows.js";
import { Arena } from "./arena.js";
import { KernelPool, type PoolWorker, type SpawnWorker } from "./pool.js";
import { ARGS, CTRL_BYTES, MAX_ARGS, OP, Op, type KernelExports } from "./jobs.js";
import { createTrainingKernels } from "./training.js";
import { enableRelaxedSimd } from "./relaxed_simd.js";
import { probeDotAdd, type DotAddProbe } from "./dot_add.js";
import { probeFloatTile, type FloatTileProbe } from "./float_tile.js";

export interface WasmBackendOptions {
  /** Threads including the calling one (default: available cores, at most 8). */
  threads?: number;
  /** Use the relaxed-SIMD build: "auto" (default) when the runtime validates it, false never, true required. */
  relaxed?: boolean | "auto";
  /** Worker spin iterations before sleeping (default 200000, ~0.5 ms). */
  spin?: number;
  /** Activation-row counts the small-batch matvec kernels take (default MATVEC_ROWS). */
  matvecRows?: MatvecRows;
  /**
   * The quantized kernels' dot-add forms (dot_add.ts; q4_0, the K-quants' prefill, and q8_0's where bytes past 127 read
   * exactly): "auto" (default) where the relaxed build's probe finds them exact and faster, false never, true wherever
   * exact (an error where they are not).
   */
  dotAdd?: boolean | "auto";
  /**
   * Tokens a tile of the float prefill kernel (float_tile.ts): "auto" (default) 6 where the probe times it faster
   * than 4 on this engine, else 4.
   */
  floatTile?: 4 | 6 | "auto";
}

/** T from min to max (inclusive) activation rows. */
export interface MatvecRows { min: number; max: number }

/**
 * From 4 to 16 activation rows (a batched decode step of that many sequences, a short prompt), f32 and 16-bit
 * weights go through the small-batch matvecs (each weight loaded once for all rows); otherwise through the decode
 * matvec (T = 1) or the token-tiled matmuls, which measured faster at 2 … 3 rows (scripts/bench_matvec_rows.mjs,
 * BENCHMARKS.md "Server: continuous batching"). q8_0 and q4_0 run their decode matvec once per row up to 5 rows and
 * take their unpacked-pairs kernel from max(min, 6) rows on, prefills included (it tiles the tokens itself); min >
 * max turns it off too.
 */
export const MATVEC_ROWS: MatvecRows = { min: 4, max: 16 };

/**
 * Worker spin for training: between kernel calls the caller runs TypeScript (attention's softmax rows, gradient
 * bookkeeping), and a worker spinning through that time takes the core the caller needs when the machine is busy.
 */
export const TRAINING_SPIN = 2000;

/** Kernel ids of the K-quants (0–2, repacked) and of q5_0 / q5_1 (kept in ggml's layout); assembly/matmul_kquant.ts. */
const KQUANT_KIND: Partial<Record<QuantDType, number>> = { q4_k: 0, q5_k: 1, q6_k: 2, q5_0: 3, q5_1: 4 };
/** Bytes of a 4-row group's super-block in the repacked K-quant layout, by kind. */
const KQ_GROUP_BYTES = [592, 720, 848];

/**
 * A weight matrix in the wasm memory at ptr (bf16 / f16: in the 8-row interleaved layout of matmul_half.ts;
 * q8_0 / q4_0: in the 4-row interleaved layout of matmul_quant.ts; K-quants: in the 4-row groups of
 * matmul_kquant.ts; f32, q5_0 and q5_1: as stored).
 */
export interface WasmMatrix extends Matrix {
  readonly ptr: number;
  /** q8_0, q4_0, q4_K, q5_K: the power of two the stored f16 scales carry (SCALE_SHIFT, or 0; assembly/matmul_quant.ts). */
  readonly scaleShift?: number;
}

/** q8_0, q4_0, q4_K and q5_K scales are stored times 2^SCALE_SHIFT where they fit (assembly/matmul_quant.ts). */
const SCALE_SHIFT = 10;

/** The backend plus what the benchmark reports. */
export interface WasmBackend extends Backend {
  /** Threads taking part in kernels now (the calling thread included). */
  readonly threads: number;
  /** Use n of the threads the backend was created with (benchmarks compare thread counts on one model). */
  setThreads(n: number): void;
  readonly relaxedSimd: boolean;
  /**
   * Whether q4_0's kernels (and the K-quants' prefill tile) take the dot-add form, whether q8_0's do, and what
   * the probe found (null: the plain build, not probed); dot_add.ts.
   */
  readonly dotAdd: boolean;
  readonly dotAddQ8: boolean;
  readonly dotAddProbe: DotAddProbe | null;
  /** Tokens a tile of the float prefill kernel, and what the probe found (null: not probed); float_tile.ts. */
  readonly floatTile: 4 | 6;
  readonly floatTileProbe: FloatTileProbe | null;
  /** Bytes of wasm memory in use. */
  memoryBytes(): number;
  /**
   * Memory read bandwidth in GB/s with the active threads: best of 3 streaming sums over a buffer of about
   * `bytes` (make it much larger than the last-level cache), the ceiling for decode's weight reads.
   */
  readBandwidth(bytes: number): number;
  /** Activation-row counts the small-batch matvecs take (benchmarks and tests change it; min > max: never). */
  matvecRows: MatvecRows;
}

const HEAP_BASE = 65536; // above the module's static data (memoryBase 1024, a few bytes)

/** Find a build output next to this file (dist) or, when running from src (tests), in dist/. */
function locate(name: string): URL {
  const here = new URL(`./${name}`, import.meta.url);
  if (fs.existsSync(here)) return here;
  const dist = new URL(`../../../dist/kernels/wasm/${name}`, import.meta.url);
  if (fs.existsSync(dist)) return dist;
  throw new Error(`wasm backend: ${name} not found next to ${import.meta.url} nor in dist/kernels/wasm (run npm run build)`);
}

function compileKernels(relaxed: boolean | "auto"): { module: WebAssembly.Module; relaxed: boolean } {
  if (relaxed !== false) {
    const bytes = fs.readFileSync(locate("kernels_relaxed.wasm"));
    if (enableRelaxedSimd() && WebAssembly.validate(bytes)) return { module: new WebAssembly.Module(bytes), relaxed: true };
    if (relaxed === true) throw new Error("wasm backend: relaxed SIMD requested but this runtime lacks it (node --experimental-wasm-relaxed-simd)");
  }
  return { module: new WebAssembly.Module(fs.readFileSync(locate("kernels.wasm"))), relaxed: false };
}

/** The parent's Node flags minus those that only apply to a main script (`node -e`, `--input-type`). */
function workerExecArgv(): string[] {
  const out: string[] = [];
  const a = process.execArgv;
  for (let i = 0; i < a.length; i++) {
    if (a[i] === "-e" || a[i] === "--eval" || a[i] === "-p" || a[i] === "--print") { i++; continue; }
    if (a[i].startsWith("--input-type") || a[i].startsWith("--eval=") || a[i].startsWith("--print=")) continue;
    out.push(a[i]);
  }
  return out;
}

function spawnNodeWorker(module: WebAssembly.Module, memory: WebAssembly.Memory, ctrl: number, spin: number, index: number): PoolWorker {
  const worker = new Worker(locate("worker.js"), { workerData: { module, memory, ctrl, spin, index }, execArgv: workerExecArgv() });
  worker.unref(); // an idle pool never keeps the process alive
  const ready = new Promise<void>((resolve, reject) => {
    worker.once("message", () => resolve());
    worker.once("error", reject);
  });
  return { ready, terminate: () => void worker.terminate() };
}

/** A growable scratch region: reallocated only when a larger size is asked for, so steady state allocates nothing. */
class Scratch {
  ptr = 0;
  private cap = 0;
  constructor(private readonly arena: Arena) {}
  need(bytes: number): number {
    if (bytes > this.cap) { this.cap = Math.max(bytes, this.cap * 2); this.ptr = this.arena.allocBytes(this.cap); }
    return this.ptr;
  }
}

/** Create the WebAssembly backend in Node (worker_threads); resolves when its worker threads are running. */
export async function createWasmBackend(opts: WasmBackendOptions = {}): Promise<WasmBackend> {
  const threads = opts.threads ?? Math.min(8, os.availableParallelism());
  const { module, relaxed } = compileKernels(opts.relaxed ?? "auto");
  return createWasmBackendOn({ module, relaxed, spawn: spawnNodeWorker }, { ...opts, threads });
}

/** What a host (Node, a browser) provides: the compiled kernels and a way to start pool workers. */
export interface KernelHost {
  module: WebAssembly.Module;
  /** Whether module is the relaxed-SIMD build. */
  relaxed: boolean;
  spawn: SpawnWorker;
}

/** Create the backend over a host's compiled kernels and workers (threads defaults to 1). */
export async function createWasmBackendOn(host: KernelHost, opts: Pick<WasmBackendOptions, "threads" | "spin" | "matvecRows" | "dotAdd" | "floatTile"> = {}): Promise<WasmBackend> {
  const threads = Math.max(1, Math.floor(opts.threads ?? 1));
  const { module, relaxed } = host;
  const memory = new WebAssembly.Memory({ initial: 256, maximum: 65536, shared: true });
  const arena = new Arena(memory, HEAP_BASE);
  const ex = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as KernelExports;
  const ctrl = arena.allocBytes(CTRL_BYTES);
  const overflowFlag = arena.allocBytes(4); // set by a q8_0 / q4_0 repack when a scale does not fit shifted
  const pool = await KernelPool.create(ex, module, memory, ctrl, threads, host.spawn, opts.spin);
  const dotAddMode = opts.dotAdd ?? "auto";
  const dotAddFound = relaxed && dotAddMode !== false ? probeDotAdd(ex, arena) : null;
  if (dotAddMode === true && !dotAddFound?.exact)
    throw new Error(`wasm backend: dotAdd: true, but ${relaxed ? "this engine computes i32x4.relaxed_dot_i8x16_i7x16_add_s wrongly (V8 11.3, Node 20, does)" : "the plain-SIMD build has no dot-add form"}`);
  // The dot-add form where it is exact and, unless asked for, faster on the probe's tile (0.82-0.84 of the u8
  // form's time where it is one vpdpbusd, 1.6 where it is three instructions: Node 22); q8_0's where its bytes past
  // 127 read exactly too (its form does 16 products an instruction against 8 with 2).
  const dotAdd = !!dotAddFound?.exact && (dotAddMode === true || dotAddFound.ratio < 1);
  const dotAddQ8 = dotAdd && !!dotAddFound?.unsignedExact;
  const floatTileMode = opts.floatTile ?? "auto";
  if (floatTileMode !== "auto" && floatTileMode !== 4 && floatTileMode !== 6)
    throw new Error(`wasm backend: floatTile: ${String(floatTileMode)}: expected 4, 6 or "auto"`);
  const floatTileFound = floatTileMode === "auto" ? probeFloatTile(ex, arena) : null;
  // 6 only where clearly faster (0.89-0.91 of the 4-token tile's time under Node 24; ≈ 2 where V8 spills).
  const floatTile: 4 | 6 = floatTileMode !== "auto" ? floatTileMode : floatTileFound!.same && floatTileFound!.ratio < 0.97 ? 6 : 4;
  const argI32 = new Int32Array(memory.buffer, ctrl + ARGS * 4, MAX_ARGS);
  const argF32 = new Float32Array(memory.buffer, ctrl + ARGS * 4, MAX_ARGS);
  const opWord = new Int32Array(memory.buffer, ctrl + OP * 4, 1);

  // Scratch, each grown on demand: permuted x (16-bit weights), quantized activations, attention scores, cos/sin.
  const xPerm = new Scratch(arena), actQ16 = new Scratch(arena), actQ8 = new Scratch(arena), actD = new Scratch(arena),
    actCorr = new Scratch(arena), scores = new Scratch(arena), cosSin = new Scratch(arena),
    probe = new Scratch(arena), probeSums = new Scratch(arena), unpacked = new Scratch(arena), segDesc = new Scratch(arena);
  const invFreqs = new Map<string, number>();

  const job = (op: number, ...args: number[]) => { opWord[0] = op; for (let i = 0; i < args.length; i++) argI32[i] = args[i]; };
  const ptr = (a: Float32Array, what: string) => arena.ptr(a, what);
  const need = (a: Float32Array, n: number, what: string) => {
    if (a.length < n) throw new RangeError(`wasm backend: ${what} has ${a.length} floats, needs ${n}`);
  };
  /**
   * Rows a chunk: at most 64, but enough chunks (≥ 8 a thread) to balance; a multiple of the kernel's row tile
   * (4, or 8 and 16 where a chunk's last tile would otherwise run half empty or on a slower path).
   */
  const rowChunk = (N: number, tile = 4) => Math.min(64, Math.max(tile, Math.ceil(N / (pool.threads * 8) / tile) * tile));
  // A decode matvec (one activation row), whose tiles each read one sequential stream: 4 chunks a thread, so
  // each thread streams long runs from DRAM. Chunks of at most 64 rows (rowChunk) split the matrix into short
  // runs the two threads take in turn, and single-core reads restarted at every one: tg128 of OpenELM-270M on an
  // AMD EPYC q4_0 120-132 → 153-180 t/s, q8_0 92 → 112-121, f32 (a row at a time) 36-38 → 43 (BENCHMARKS.md).
  const decodeChunk = (N: number, tile: number) => Math.max(tile, Math.ceil(N / (pool.threads * 4) / tile) * tile);
  /** Items a chunk for cheap row-wise ops: serial when small. */
  const itemChunk = (n: number, work: number) => (work < 32768 ? n : Math.max(1, Math.ceil(n / (pool.threads * 4))));

  /**
   * body over a staging region of whole rows (≈ 4 MiB, at least one row) at the arena's top, released after: the
   * next matrix is allocated over the same, already resident pages (a staging buffer kept for the backend's life
   * held 4-12 MiB of RSS idle).
   */
  function staged<R>(rows: number, rowBytes: number, body: (st: number, rowsPer: number) => R): R {
    const rowsPer = Math.min(rows, Math.max(1, Math.floor((4 << 20) / rowBytes))), mark = arena.used;
    try { return body(arena.allocBytes(rowsPer * rowBytes), rowsPer); } finally { arena.release(mark); }
  }

  function loadMatrix(t: StoredTensor, rows: number, cols: number): WasmMatrix {
    const expect = bytesFor(t.dtype, rows * cols);
    // A lazily read tensor is read from its file piece by piece straight into the staging memory (a whole-tensor
    // copy on the heap would raise the peak RSS, and glibc keeps freed blocks of a few MiB). Others: .data once.
    const data = t.readInto ? undefined : t.data;
    const byteLength = data ? data.byteLength : bytesFor(t.dtype, numel(t.shape));
    if (byteLength !== expect)
      throw new RangeError(`wasm backend: tensor "${t.name}" (${t.dtype}, ${rows}x${cols}) has ${byteLength} bytes, expected ${expect}`);
    const fill = (dst: number, start: number, bytes: number) => readTensorBytes(t, start, arena.u8(dst, bytes), data);
    if (t.dtype === "q8_0" || t.dtype === "q4_0") {
      if (cols % 32 !== 0) throw new RangeError(`wasm backend: tensor "${t.name}": ${t.dtype} needs cols % 32 == 0, got ${cols}`);
      const isQ8 = t.dtype === "q8_0";
      // Groups of 4 rows interleaved block by block with the f16 scales (q8_0 after all quants, q4_0 in each group
      // block), in quads of 16 rows stored block by block (assembly/matmul_quant.ts), rows padded to 16.
      const nb = cols / 32, blockBytes = isQ8 ? 34 : 18, groupBlock = isQ8 ? 8 + 4 * 32 : 8 + 4 * 16; // quants + f16 scales
      const w = arena.allocBytes(Math.ceil(rows / 16) * 4 * nb * groupBlock);
      // Stage ~4 MiB of ggml blocks at a time in the memory, repack with all threads; scales shifted unless one
      // does not fit (a scale ≥ 64: q8_0 weights ≥ 8128, q4_0 ≥ 512), then once more unshifted.
      const scaleShift = staged(rows, nb * blockBytes, (st, rowsPer) => {
        const repack = (shift: number) => {
          new Int32Array(memory.buffer, overflowFlag, 1)[0] = 0;
          for (let r0 = 0; r0 < rows; r0 += rowsPer) {
            const r1 = Math.min(rows, r0 + rowsPer);
            fill(st, r0 * nb * blockBytes, (r1 - r0) * nb * blockBytes);
            job(isQ8 ? Op.repackQ8 : Op.repackQ4, st, cols, w, r0, shift, overflowFlag, rows);
            pool.run(r1 - r0, Math.max(4, Math.ceil((r1 - r0) / (pool.threads * 16) / 4) * 4));
          }
          return new Int32Array(memory.buffer, overflowFlag, 1)[0] === 0;
        };
        return repack(SCALE_SHIFT) ? SCALE_SHIFT : (repack(0), 0);
      });
      return { dtype: t.dtype, rows, cols, ptr: w, scaleShift };
    }
    if (t.dtype === "f32" || t.dtype === "bf16" || t.dtype === "f16") {
      // Groups of 8 rows, rows padded with zeros to a multiple of 8: f32 k-major, the 8 rows' values at a column side
      // by side (assembly/matmul_float_rows.ts); 16-bit interleaved 8 columns at a time, columns padded to a multiple
      // of 32 (assembly/matmul_half.ts). Staged and repacked with all threads in whole quads (f32's 4×4 transposes).
      const f32 = t.dtype === "f32", groups = Math.ceil(rows / 8), groupBytes = f32 ? cols * 32 : Math.ceil(cols / 32) * 512;
      const w = arena.allocBytes(groups * groupBytes), rowBytes = cols * (f32 ? 4 : 2), tile = f32 ? 4 : 8;
      if (rows % 8) arena.u8(w + (groups - 1) * groupBytes, groupBytes).fill(0);
      staged(rows, rowBytes, (st, rowsPer) => {
        const per = rowsPer >= tile && rowsPer < rows ? rowsPer - (rowsPer % tile) : rowsPer;
        for (let r0 = 0; r0 < rows; r0 += per) {
          const r1 = Math.min(rows, r0 + per);
          fill(st, r0 * rowBytes, (r1 - r0) * rowBytes);
          job(f32 ? Op.repackF32 : Op.repackHalf, st, cols, w, r0);
          pool.run(r1 - r0, Math.max(tile, Math.ceil((r1 - r0) / (pool.threads * 16) / tile) * tile));
        }
      });
      return { dtype: t.dtype, rows, cols, ptr: w };
    }
    const kind = KQUANT_KIND[t.dtype as QuantDType];
    if (kind !== undefined && cols % (kind <= 2 ? 256 : 32) !== 0)
      throw new RangeError(`wasm backend: tensor "${t.name}": ${t.dtype} needs cols % ${kind <= 2 ? 256 : 32} == 0, got ${cols}`);
    if (kind !== undefined && kind <= 2) {
      // Groups of 4 rows in quads (16 rows) stored super-block by super-block, sub-block scales decoded, q4_K /
      // q5_K's f16 d and dmin shifted as q8_0's scales (assembly/matmul_kquant.ts); rows padded with zeros to 16.
      const nsb = cols / 256, rowBytes = expect / rows, quadBytes = 4 * nsb * KQ_GROUP_BYTES[kind];
      const quads = Math.ceil(rows / 16), w = arena.allocBytes(quads * quadBytes);
      if (rows % 16) arena.u8(w + (quads - 1) * quadBytes, quadBytes).fill(0);
      const scaleShift = staged(rows, rowBytes, (st, rowsPer) => {
        const repack = (shift: number) => {
          new Int32Array(memory.buffer, overflowFlag, 1)[0] = 0;
          for (let r0 = 0; r0 < rows; r0 += rowsPer) {
            const r1 = Math.min(rows, r0 + rowsPer);
            fill(st, r0 * rowBytes, (r1 - r0) * rowBytes);
            job(Op.repackKQuant, st, kind, cols, w, r0, shift, overflowFlag);
            pool.run(r1 - r0, Math.max(4, Math.ceil((r1 - r0) / (pool.threads * 16) / 4) * 4));
          }
          return new Int32Array(memory.buffer, overflowFlag, 1)[0] === 0;
        };
        return kind === 2 ? (repack(0), 0) : repack(SCALE_SHIFT) ? SCALE_SHIFT : (repack(0), 0);
      });
      return { dtype: t.dtype, rows, cols, ptr: w, scaleShift };
    }
    const p = arena.allocBytes(expect);
    fill(p, 0, expect);
    return { dtype: t.dtype, rows, cols, ptr: p };
  }

  function matmul(out: Float32Array, x: Float32Array, w: Matrix, T: number): void {
    const m = w as WasmMatrix;
    const N = m.rows, K = m.cols;
    need(out, T * N, "matmul out"); need(x, T * K, "matmul x");
    if (T === 0) return; // no rows to write
    const po = ptr(out, "matmul out"), px = ptr(x, "matmul x");
    const small = T >= Math.max(2, backend.matvecRows.min) && T <= backend.matvecRows.max;
    const one = T * N * K < 131072 ? N : 0; // one chunk: too small to share
    if (m.dtype === "f32" && T <= 3) { // a decode step or a few: each group of 8 rows one stream (matmul_float_rows.ts)
      job(Op.matvecF32, po, px, m.ptr, T, N, K);
      pool.run(N, one || decodeChunk(N, 8));
      return;
    }
    // f32 from 4 tokens, 16-bit weights past the small-batch range (a prefill, widened once per token block): the
    // float token tiles (matmul_float_rows.ts), in row chunks of 8 (claimed as the threads go, so they end
    // together: in chunks of 64, a 1280 × 3072 matmul of 128 tokens ran 8 % slower on 2 threads).
    const floatRows = T >= 4 && T > backend.matvecRows.max && backend.matvecRows.min <= backend.matvecRows.max;
    if (m.dtype === "f32" || (floatRows && (m.dtype === "bf16" || m.dtype === "f16"))) {
      const g = floatTile, tPad = ex.interleavedRows(T, g), xt = xPerm.need(tPad * K * 4);
      job(Op.interleaveRows, px, xt, K, g, T);
      pool.run(tPad, itemChunk(tPad, tPad * K));
      const sBytes = m.dtype === "f32" ? 0 : K * 32, kind = m.dtype === "f32" ? 0 : m.dtype === "bf16" ? 1 : 2;
      job(Op.floatRows, po, xt, m.ptr, T, N, K, sBytes && unpacked.need(threads * sBytes), sBytes, kind, g);
      pool.run(N, one || 8);
      return;
    }
    let tile = 4, decodeRows = T === 1; // decodeRows: the decode matvec's long chunks
    switch (m.dtype) {
      case "bf16": case "f16": { // x zero-padded as the rows are (to a multiple of 32); row chunks of whole 8-row groups
        if (K === 0) { out.fill(0, 0, T * N); return; }
        const xp = xPerm.need(T * Math.ceil(K / 32) * 128);
        job(Op.permuteX, px, xp, K);
        pool.run(T, itemChunk(T, T * K));
        const bf = m.dtype === "bf16";
        job(small ? (bf ? Op.matvecBf16 : Op.matvecF16) : bf ? Op.matmulBf16 : Op.matmulF16, po, xp, m.ptr, T, N, K);
        pool.run(N, T * N * K < 131072 ? N : T === 1 ? decodeChunk(N, 8) : rowChunk(N, 8));
        return;
      }
      case "q8_0": case "q4_0": {
        const nb = K / 32;
        const T4 = Math.ceil(T / 4) * 4, q16 = actQ16.need(T4 * K * 2), q8 = actQ8.need(T4 * K), d = actD.need(T4 * nb * 4), c = actCorr.need(T4 * nb * 16);
        // Up to 5 rows the decode tiles once per row (DECODE_ROWS in assembly/matmul_quant.ts; a chunk's weights
        // stay in cache for the next row); more: the unpacked-pairs kernel, whatever T (it tiles the tokens itself).
        const perRow = T <= 5;
        const pairs = !perRow && T >= Math.max(2, backend.matvecRows.min) && backend.matvecRows.min <= backend.matvecRows.max;
        job(Op.quantAct, px, K, q16, q8, d, c, pairs ? 1 : 0); // pairs: q16 interleaved by 4 rows
        argF32[7] = 2 ** (112 - (m.scaleShift ?? 0)); // the f16 scales' widening factor, see repackQuant
        pool.run(T, itemChunk(T, T * K));
        const q8_0 = m.dtype === "q8_0";
        if (pairs) { // each thread unpacks two 4-row groups at a time into its own K·16 + 128 bytes
          job(q8_0 ? Op.matvecQ8 : Op.matvecQ4, po, q16, q8, d, c, m.ptr, T, N, K, unpacked.need(threads * (K * 16 + 128)), K * 16 + 128,
            (q8_0 ? dotAddQ8 : dotAdd) ? 1 : 0);
        } else job(q8_0 ? Op.matmulQ8 : Op.matmulQ4, po, q16, q8, d, c, m.ptr, T, N, K, unpacked.need(threads * K * 16), K * 16, (q8_0 ? dotAddQ8 : dotAdd) ? 1 : 0);
        // pairs of 4-row groups; decode's 16-row tiles in long chunks (tg16 × 2 of OpenELM-270M q8_0, AMD EPYC: 70 t/s
        // through the 4-row tiles, 120 so; × 4: 112 through the pairs kernel, 129 so; from 6 rows on the pairs gain)
        // A batched decode step of 6-16 rows through the pairs kernel streams its weights from DRAM like a decode:
        // long runs a thread, whole quads (the kernel touches the next quad's lines first; OpenELM-270M q8_0 `bench
        // -b 8`, AMD EPYC: 147-148 t/s → 164-190).
        const few = pairs && T <= 16;
        tile = few ? 16 : pairs ? 8 : perRow ? 16 : 4;
        decodeRows = perRow || few;
        break;
      }
      default: {
        const nb = K / 32, kind = KQUANT_KIND[m.dtype]!;
        if (kind <= 2) { // K-quants: int8 activations with a scale per 256, sums per 32 and per 16; repacked rows
          const q8 = actQ8.need(T * K), d = actD.need(T * (K / 256) * 4), s = actCorr.need(T * nb * 2), off = actQ16.need(T * (K / 16) * 2);
          job(Op.quantActK, px, K, q8, d, s, off);
          argF32[6] = kind === 2 ? 1 : 2 ** (112 - (m.scaleShift ?? 0)); // q4_K / q5_K: the f16 d and dmin's widening factor
          pool.run(T, itemChunk(T, T * K));
          job(Op.matmulKQuant, po, q8, d, s, off, m.ptr, kind <= 2 && dotAdd ? kind | 8 : kind, T, N, K); // | 8: the dot-add form
          // decode's 16-row tiles read a quad of groups (an odd count's last token too; two q4_K rows together)
          tile = T % 2 === 1 || (T === 2 && kind === 0) ? 16 : 4;
          if (T <= 16) { tile = 16; decodeRows = true; } // a batched decode step streams like a decode: long runs a thread
          break;
        }
        // q5_0 / q5_1 (activations as q4_0's; rows in ggml's layout, any split)
        const q16 = actQ16.need(T * K * 2), q8 = actQ8.need(T * K), d = actD.need(T * nb * 4), c = actCorr.need(T * nb * 16);
        job(Op.quantAct, px, K, q16, q8, d, c, 0);
        argF32[7] = 1;
        pool.run(T, itemChunk(T, T * K));
        job(Op.matmulQ5, po, q16, d, c, m.ptr, kind === 4 ? 1 : 0, T, N, K);
        pool.run(N, T * N * K < 131072 ? N : Math.max(1, Math.ceil(N / (pool.threads * 8))));
        return;
      }
    }
    // Below ~128K multiply-adds a wake-up of the workers costs more than it saves.
    pool.run(N, T * N * K < 131072 ? N : decodeRows ? decodeChunk(N, tile) : rowChunk(N, tile));
  }

  const backend: WasmBackend = {
    name: relaxed ? (dotAddQ8 ? "wasm-relaxed+dot-add+u8" : dotAdd ? "wasm-relaxed+dot-add" : "wasm-relaxed") : "wasm",
    get threads() { return pool.threads; },
    setThreads: (n) => pool.setActive(n),
    relaxedSimd: relaxed,
    dotAdd,
    dotAddQ8,
    dotAddProbe: dotAddFound,
    floatTile,
    floatTileProbe: floatTileFound,
    memoryBytes: () => arena.used,
    readBandwidth(bytes) {
      const n = Math.max(16, Math.ceil(bytes / 65536)); // 64 KiB items, claimed 1 MiB at a time
      const p = probe.need(n * 65536), sums = probeSums.need(n * 16);
      arena.u8(p, n * 65536).fill(1); // touch every page before timing
      let best = Infinity;
      for (let r = 0; r < 3; r++) {
        job(Op.readSum, p, sums);
        const t0 = performance.now();
        pool.run(n, 16);
        best = Math.min(best, performance.now() - t0);
      }
      return (n * 65536) / best / 1e6;
    },
    matvecRows: { ...(opts.matvecRows ?? MATVEC_ROWS) },
    alloc: (n) => arena.f32(n),
    loadMatrix,
    loadVector(t) {
      const v = toFloat32(t);
      const a = arena.f32(v.length);
      a.set(v);
      return a;
    },
    embed(out, table, ids) {
      const m = table as WasmMatrix;
      const D = m.cols, V = m.rows;
      need(out, ids.length * D, "embed out");
      const po = ptr(out, "embed out");
      for (let t = 0; t < ids.length; t++) {
        const id = ids[t];
        if (!Number.isInteger(id) || id < 0 || id >= V) throw new RangeError(`embed: token id ${id} at position ${t} is outside 0 … ${V - 1}`);
        const o = po + t * D * 4;
        if (m.dtype === "q8_0" || m.dtype === "q4_0") ex.dequantRow(m.ptr, m.dtype === "q8_0" ? 1 : 0, D, V, id, m.scaleShift ?? 0, o);
        else if ((KQUANT_KIND[m.dtype as QuantDType] ?? 3) <= 2) ex.dequantRowK(m.ptr, KQUANT_KIND[m.dtype as QuantDType]!, D, id, m.scaleShift ?? 0, o);
        else if (KQUANT_KIND[m.dtype as QuantDType] !== undefined) { // q5_0 / q5_1: ggml's own dequantization, one row
          const rb = bytesFor(m.dtype, D);
          dequantizeRow(m.dtype as QuantDType, arena.u8(m.ptr + id * rb, rb), 0, D, out.subarray(t * D, (t + 1) * D));
        } else ex.widenRow(m.ptr, m.dtype === "f32" ? 4 : 2, m.dtype === "bf16" ? 1 : 0, D, id, o);
      }
    },
    matmul,
    rmsnorm(out, x, w, rows, dim, eps) {
      need(out, rows * dim, "rmsnorm out"); need(x, rows * dim, "rmsnorm x"); need(w, dim, "rmsnorm w");
      job(Op.rmsnorm, ptr(out, "rmsnorm out"), ptr(x, "rmsnorm x"), ptr(w, "rmsnorm w"), dim);
      argF32[4] = eps;
      pool.run(rows, itemChunk(rows, rows * dim));
    },
    qkNormRope(qkv, T, nQ, nKV, hd, qNorm, kNorm, eps, pos0, theta) {
      need(qkv, T * (nQ + 2 * nKV) * hd, "qkNormRope qkv");
      const key = `${hd}/${theta}`;
      let inv = invFreqs.get(key);
      if (inv === undefined) {
        const a = arena.f32(hd / 2);
        a.set(ropeInvFreq(hd, theta));
        inv = a.byteOffset;
        invFreqs.set(key, inv);
      }
      const cs = cosSin.need(T * hd * 4);
      job(Op.qkNormRope, ptr(qkv, "qkNormRope qkv"), nQ, nKV, hd, qNorm ? ptr(qNorm, "qNorm") : 0,
        kNorm ? ptr(kNorm, "kNorm") : 0, 0, pos0, inv, cs);
      argF32[6] = eps;
      pool.run(T, itemChunk(T, T * (nQ + nKV) * hd * 4));
    },
    attention(out, q, qStride, kCache, vCache, T, pos0, nQ, nKV, hd) {
      const S = pos0 + T;
      need(out, T * nQ * hd, "attention out"); need(kCache, S * nKV * hd, "attention kCache"); need(vCache, S * nKV * hd, "attention vCache");
      // Items: (token, pair of query heads sharing a KV head); scratch: 2 score rows a thread, 16-byte aligned.
      const sMax = (S + 3) & ~3, items = T * nKV * Math.ceil(nQ / nKV / 2);
      const sc = scores.need(threads * sMax * 8);
      job(Op.attention, ptr(out, "attention out"), ptr(q, "attention q"), qStride, ptr(kCache, "attention kCache"),
        ptr(vCache, "attention vCache"), T, pos0, nQ, nKV, hd, sc, sMax);
      // one chunk only below ~32 cached positions a decode step: from there both threads pay (a batched decode step's
      // 8 sequences at 128-256 positions read their caches from DRAM, 7 ms a step on one thread)
      pool.run(items, T * S * hd < 2048 ? items : Math.max(1, Math.ceil(items / (pool.threads * 16))));
    },
    attentionBatch(out, q, qStride, segs, nQ, nKV, hd) {
      const perToken = nKV * Math.ceil(nQ / nKV / 2), d = segDesc.need(segs.length * 32);
      const desc = new Int32Array(memory.buffer, d, segs.length * 8); // after need(): the memory may have grown
      let items = 0, sMax = 0, work = 0;
      segs.forEach((g, i) => {
        const S = g.pos0 + g.T, what = `attentionBatch segment ${i}`;
        need(out, (g.row + g.T) * nQ * hd, `${what} out`); need(q, (g.row + g.T - 1) * qStride + nQ * hd, `${what} q`);
        need(g.kCache, S * nKV * hd, `${what} kCache`); need(g.vCache, S * nKV * hd, `${what} vCache`);
        desc.set([ptr(out, "attention out") + g.row * nQ * hd * 4, ptr(q, "attention q") + g.row * qStride * 4,
          ptr(g.kCache, "attention kCache"), ptr(g.vCache, "attention vCache"), g.T, g.pos0, items, 0], i * 8);
        items += g.T * perToken;
        sMax = Math.max(sMax, (S + 3) & ~3);
        work += g.T * S * hd;
      });
      const sc = scores.need(threads * sMax * 8);
      job(Op.attentionBatch, d, segs.length, qStride, nQ, nKV, hd, sc, sMax);
      pool.run(items, work < 2048 ? items : Math.max(1, Math.ceil(items / (pool.threads * 16))));
    },
    swiglu(out, gu, T, F) {
      need(out, T * F, "swiglu out"); need(gu, T * 2 * F, "swiglu gu");
      job(Op.swiglu, ptr(out, "swiglu out"), ptr(gu, "swiglu gu"), F);
      pool.run(T, itemChunk(T, T * F * 8));
    },
    copyRows(dst, dstStride, src, srcStride, rows, width) {
      if (rows === 0) return;
      need(dst, (rows - 1) * dstStride + width, "copyRows dst"); need(src, (rows - 1) * srcStride + width, "copyRows src");
      copyRowsRef(dst, dstStride, src, srcStride, rows, width); // a memcpy a row: no kernel needed
    },
    addInPlace(x, y, n) {
      need(x, n, "addInPlace x"); need(y, n, "addInPlace y");
      job(Op.add, ptr(x, "addInPlace x"), ptr(y, "addInPlace y"));
      pool.run(n, n < 65536 ? n : 16384);
    },
    argmax: (x) => ex.argmax(ptr(x, "argmax x"), x.length), // on this thread: one pass over a row, no job to hand out
    training: createTrainingKernels({ arena, pool, job, argF32 }, relaxed ? "wasm-relaxed" : "wasm"),
    dispose: () => pool.dispose(),
  };
  return backend;
}
