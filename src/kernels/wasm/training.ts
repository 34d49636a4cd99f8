// Glue of the training kernels (assembly/matmul_grad.ts, cross_entropy.ts, the backward halves of norm.ts and
// elementwise.ts): shapes and byte offsets into jobs on the backend's pool, over the same memory, arena and
// module as the forward ops. Row chunks are multiples of 4, so the kernels' row tiles, and every result,
// are the same for any thread count.

import type { TrainingKernels } from "../backend.js";
import { ropeInvFreq } from "../ref/qk_norm_rope.js";
import type { Arena } from "./arena.js";
import { Op } from "./jobs.js";
import type { KernelPool } from "./pool.js";

/** What the training glue borrows from the backend. */
export interface JobContext {
  arena: Arena;
  pool: KernelPool;
  /** Write op and integer arguments into the control block. */
  job(op: number, ...args: number[]): void;
  /** The argument words as float32, for float arguments (written after job()). */
  argF32: Float32Array;
}

export function createTrainingKernels(c: JobContext, name: string): TrainingKernels {
  const { arena, pool, job, argF32 } = c;
  const ptr = (a: Float32Array | Int32Array, what: string) => arena.ptr(a, what);
  const need = (a: Float32Array | Int32Array, n: number, what: string) => {
    if (a.length < n) throw new RangeError(`wasm training kernels: ${what} has ${a.length} elements, needs ${n}`);
  };
  /** Rows a chunk for row-wise ops: a multiple of 4, about 8 chunks a thread; one chunk when too small to share. */
  const rows = (M: number, work: number) =>
    work < 65536 ? M : Math.min(256, Math.max(4, Math.ceil(M / (pool.threads * 8) / 4) * 4));
  /**
   * Rows a chunk for the matmuls: one share a thread (a multiple of 4). Every chunk streams all of B through
   * the cache once, so finer chunks would multiply that traffic (the vocabulary head's B is V·D floats).
   */
  const mmRows = (M: number, work: number) => (work < 65536 ? M : Math.max(4, Math.ceil(M / pool.threads / 4) * 4));
  // float64 scratch of the weight-gradient passes and the per-row rstd, grown on demand
  let f64Ptr = 0, f64Cap = 0, rsPtr = 0, rsCap = 0, ghPtr = 0, ghCap = 0;
  const f64 = (n: number) => { if (n > f64Cap) { f64Cap = Math.max(n, 2 * f64Cap); f64Ptr = arena.allocBytes(f64Cap * 8); } return f64Ptr; };
  const rs = (n: number) => { if (n > rsCap) { rsCap = Math.max(n, 2 * rsCap); rsPtr = arena.allocBytes(rsCap * 4); } return rsPtr; };
  const gh = (n: number) => { if (n > ghCap) { ghCap = Math.max(n, 2 * ghCap); ghPtr = arena.allocBytes(ghCap * 4); } return ghPtr; };
  const invFreqs = new Map<string, number>();
  const invFreq = (hd: number, theta: number) => {
    const key = `${hd}/${theta}`;
    let p = invFreqs.get(key);
    if (p === undefined) { const a = arena.f32(hd / 2); a.set(ropeInvFreq(hd, theta)); p = a.byteOffset; invFreqs.set(key, p); }
    return p;
  };

  return {
    name,
    allocI32: (n) => arena.i32(n),
    abt(out, A, B, M, N, K, acc) {
      need(out, M * N, "abt out"); need(A, M * K, "abt A"); need(B, N * K, "abt B");
      job(Op.matmulNT, ptr(out, "abt out"), ptr(A, "abt A"), ptr(B, "abt B"), N, K, acc ? 1 : 0);
      pool.run(M, mmRows(M, M * N * K));
    },
    nn(out, A, B, M, N, K, acc) {
      need(out, M * N, "nn out"); need(A, M * K, "nn A"); need(B, K * N, "nn B");
      job(Op.matmulNN, ptr(out, "nn out"), ptr(A, "nn A"), ptr(B, "nn B"), N, K, acc ? 1 : 0);
      pool.run(M, mmRows(M, M * N * K));
    },
    tn(out, A, B, M, N, K, acc) {
      need(out, M * N, "tn out"); need(A, K * M, "tn A"); need(B, K * N, "tn B");
      job(Op.matmulTN, ptr(out, "tn out"), ptr(A, "tn A"), ptr(B, "tn B"), M, N, K, acc ? 1 : 0);
      pool.run(M, mmRows(M, M * N * K));
    },
    transpose(out, x, r, cols, stride, c0) {
      need(out, r * cols, "transpose out"); need(x, (r - 1) * stride + c0 + cols, "transpose x");
      job(Op.transpose, ptr(out, "transpose out"), ptr(x, "transpose x"), r, stride, c0);
      pool.run(cols, cols * r < 65536 ? cols : Math.max(16, Math.ceil(cols / (pool.threads * 4) / 16) * 16));
    },
    ceForward(lse, tl, logits, targets, N, V) {
      need(logits, N * V, "ceForward logits"); need(targets, N, "ceForward targets");
      job(Op.ceForward, ptr(logits, "ceForward logits"), V, ptr(targets, "ceForward targets"), ptr(lse, "ceForward lse"), ptr(tl, "ceForward tl"));
      pool.run(N, rows(N, N * V * 8));
    },
    ceBackward(logits, lse, targets, N, V, cs, zs) {
      need(logits, N * V, "ceBackward logits"); need(targets, N, "ceBackward targets");
      job(Op.ceBackward, ptr(logits, "ceBackward logits"), V, ptr(targets, "ceBackward targets"), ptr(lse, "ceBackward lse"), 0, 0);
      argF32[4] = cs; argF32[5] = zs;
      pool.run(N, rows(N, N * V * 8));
    },
    swigluBackward(dgu, dout, gu, N, F) {
      need(dgu, N * 2 * F, "swigluBackward dgu"); need(dout, N * F, "swigluBackward dout"); need(gu, N * 2 * F, "swigluBackward gu");
      job(Op.swigluBackward, ptr(dgu, "swigluBackward dgu"), ptr(dout, "swigluBackward dout"), ptr(gu, "swigluBackward gu"), F);
      pool.run(N, rows(N, N * F * 16));
    },
    rmsnormBackward(dx, dw, dy, x, w, N, D, eps, acc) {
      need(dx, N * D, "rmsnormBackward dx"); need(dy, N * D, "rmsnormBackward dy"); need(x, N * D, "rmsnormBackward x");
      const r = rs(N);
      job(Op.rmsnormBackward, ptr(dx, "rmsnormBackward dx"), ptr(dy, "rmsnormBackward dy"), ptr(x, "rmsnormBackward x"),
        ptr(w, "rmsnormBackward w"), D, 0, acc ? 1 : 0, r);
      argF32[5] = eps;
      pool.run(N, rows(N, N * D * 4));
      if (!dw) return;
      job(Op.rmsnormGradW, ptr(dw, "rmsnormBackward dw"), ptr(dy, "rmsnormBackward dy"), ptr(x, "rmsnormBackward x"), r, N, D, f64(D));
      pool.run(D, N * D < 65536 ? D : Math.max(16, Math.ceil(D / (pool.threads * 2) / 16) * 16));
    },
    qkNormRopeBackward(dqkv, dqNorm, dkNorm, dy, qkv, qNorm, kNorm, N, T, nQ, nKV, hd, eps, theta) {
      const S = (nQ + 2 * nKV) * hd, H = nQ + nKV;
      need(dqkv, N * S, "qkNormRopeBackward dqkv"); need(dy, N * S, "qkNormRopeBackward dy"); need(qkv, N * S, "qkNormRopeBackward qkv");
      const g = gh(N * H * hd), r = rs(N * H);
      job(Op.qkNormRopeBackward, ptr(dqkv, "qkNormRopeBackward dqkv"), ptr(dy, "qkNormRopeBackward dy"), ptr(qkv, "qkNormRopeBackward qkv"),
        nQ, nKV, hd, qNorm ? ptr(qNorm, "qNorm") : 0, kNorm ? ptr(kNorm, "kNorm") : 0, 0, T, invFreq(hd, theta), g, r);
      argF32[8] = eps;
      pool.run(N, rows(N, N * S * 8));
      if (!(qNorm && dqNorm) && !(kNorm && dkNorm)) return;
      job(Op.qkNormGradW, qNorm && dqNorm ? ptr(dqNorm, "dqNorm") : 0, kNorm && dkNorm ? ptr(dkNorm, "dkNorm") : 0, g,
        ptr(qkv, "qkNormRopeBackward qkv"), r, N, nQ, nKV, hd, f64(2 * hd));
      pool.run(2 * hd, N * H * hd < 65536 ? 2 * hd : Math.max(4, Math.ceil((2 * hd) / (pool.threads * 2))));
    },
    splitHeads(qkv, q, k, v, N, T, nQ, nKV, hd, merge) {
      need(qkv, N * (nQ + 2 * nKV) * hd, "splitHeads qkv"); need(q, N * nQ * hd, "splitHeads q");
      need(k, N * nKV * hd, "splitHeads k"); need(v, N * nKV * hd, "splitHeads v");
      job(Op.splitHeads, ptr(qkv, "splitHeads qkv"), ptr(q, "splitHeads q"), ptr(k, "splitHeads k"), ptr(v, "splitHeads v"),
        T, nQ, nKV, hd, merge ? 1 : 0);
      pool.run(N, rows(N, N * (nQ + 2 * nKV) * hd));
    },
  };
}
