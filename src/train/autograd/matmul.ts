// Linear layer backward (llm.c matmul_backward) and the plain-TS matmul layouts, float32 storage, float64
// sums: the oracle of the TrainingKernels matmuls (kernels/wasm/assembly/matmul_grad.ts).
// The backward transposes W, dout and x into scratch so dx and dW are both the dot-product form
// out (M, N) (+)= A (M, K) · Bᵀ (N, K), the fastest kernel.
// Shapes: N rows (tokens), C in_features, OC out_features; W (OC, C) in torch Linear layout.

import type { TrainingKernels } from "../../kernels/backend.js";

/** Rows of A handled per cache tile: A[i0 … i0+TILE) stays in L2 while every row of B streams past. */
const TILE_ROWS = 64;

/**
 * out[i, j] (+)= Σ_k A[i, k] · B[j, k] for rows i in [i0, i1) (all N columns).
 * Sums run in float64 (JS numbers) and are rounded once when stored.
 */
export function matmulABtRows(out: Float32Array, A: Float32Array, B: Float32Array,
  i0: number, i1: number, N: number, K: number, accumulate: boolean): void {
  const N4 = N - (N % 4);
  for (let it = i0; it < i1; it += TILE_ROWS) {
    const iEnd = Math.min(i1, it + TILE_ROWS);
    const i4End = it + (iEnd - it) - ((iEnd - it) % 4);
    for (let j = 0; j < N4; j += 4) {
      const b0 = j * K, b1 = b0 + K, b2 = b1 + K, b3 = b2 + K;
      let i = it;
      for (; i < i4End; i += 4) {
        const a0 = i * K, a1 = a0 + K, a2 = a1 + K, a3 = a2 + K;
        let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
        let s20 = 0, s21 = 0, s22 = 0, s23 = 0, s30 = 0, s31 = 0, s32 = 0, s33 = 0;
        for (let k = 0; k < K; k++) {
          const x0 = A[a0 + k], x1 = A[a1 + k], x2 = A[a2 + k], x3 = A[a3 + k];
          const w0 = B[b0 + k], w1 = B[b1 + k], w2 = B[b2 + k], w3 = B[b3 + k];
          s00 += x0 * w0; s01 += x0 * w1; s02 += x0 * w2; s03 += x0 * w3;
          s10 += x1 * w0; s11 += x1 * w1; s12 += x1 * w2; s13 += x1 * w3;
          s20 += x2 * w0; s21 += x2 * w1; s22 += x2 * w2; s23 += x2 * w3;
          s30 += x3 * w0; s31 += x3 * w1; s32 += x3 * w2; s33 += x3 * w3;
        }
        const o0 = i * N + j, o1 = o0 + N, o2 = o1 + N, o3 = o2 + N;
        if (accumulate) {
          out[o0] += s00; out[o0 + 1] += s01; out[o0 + 2] += s02; out[o0 + 3] += s03;
          out[o1] += s10; out[o1 + 1] += s11; out[o1 + 2] += s12; out[o1 + 3] += s13;
          out[o2] += s20; out[o2 + 1] += s21; out[o2 + 2] += s22; out[o2 + 3] += s23;
          out[o3] += s30; out[o3 + 1] += s31; out[o3 + 2] += s32; out[o3 + 3] += s33;
        } else {
          out[o0] = s00; out[o0 + 1] = s01; out[o0 + 2] = s02; out[o0 + 3] = s03;
          out[o1] = s10; out[o1 + 1] = s11; out[o1 + 2] = s12; out[o1 + 3] = s13;
          out[o2] = s20; out[o2 + 1] = s21; out[o2 + 2] = s22; out[o2 + 3] = s23;
          out[o3] = s30; out[o3 + 1] = s31; out[o3 + 2] = s32; out[o3 + 3] = s33;
        }
      }
      for (; i < iEnd; i++) { // leftover rows of the tile, 4 columns at a time
        const a = i * K;
        let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (let k = 0; k < K; k++) {
          const x = A[a + k];
          s0 += x * B[b0 + k]; s1 += x * B[b1 + k]; s2 += x * B[b2 + k]; s3 += x * B[b3 + k];
        }
        const o = i * N + j;
        if (accumulate) { out[o] += s0; out[o + 1] += s1; out[o + 2] += s2; out[o + 3] += s3; }
        else { out[o] = s0; out[o + 1] = s1; out[o + 2] = s2; out[o + 3] = s3; }
      }
    }
    for (let j = N4; j < N; j++) { // leftover columns
      const b = j * K;
      for (let i = it; i < iEnd; i++) {
        const a = i * K;
        let s = 0;
        for (let k = 0; k < K; k++) s += A[a + k] * B[b + k];
        if (accumulate) out[i * N + j] += s; else out[i * N + j] = s;
      }
    }
  }
}

/** out (M, N) (+)= A (M, K) · B (K, N): B transposed, then the dot-product loop (the oracle of TrainingKernels.nn). */
export function matmulNN(out: Float32Array, A: Float32Array, B: Float32Array, M: number, N: number, K: number, acc: boolean): void {
  const bT = new Float32Array(N * K);
  transposeInto(bT, B, K, N);
  matmulABtRows(out, A, bT, 0, M, N, K, acc);
}

/** out (M, N) (+)= A (K, M)ᵀ · B (K, N): both transposed, then the dot-product loop (the oracle of TrainingKernels.tn). */
export function matmulTN(out: Float32Array, A: Float32Array, B: Float32Array, M: number, N: number, K: number, acc: boolean): void {
  const aT = new Float32Array(M * K), bT = new Float32Array(N * K);
  transposeInto(aT, A, K, M);
  transposeInto(bT, B, K, N);
  matmulABtRows(out, aT, bT, 0, M, N, K, acc);
}

/** out (cols, rows) = inᵀ for in (rows, cols) starting at column c0 of a row-major (rows, stride) array. */
export function transposeInto(out: Float32Array, x: Float32Array, rows: number, cols: number,
  stride = cols, c0 = 0): void {
  const BS = 32; // cache-sized blocks so neither side strides through memory one element per line
  for (let r0 = 0; r0 < rows; r0 += BS) {
    const r1 = Math.min(rows, r0 + BS);
    for (let cb = 0; cb < cols; cb += BS) {
      const cEnd = Math.min(cols, cb + BS);
      for (let r = r0; r < r1; r++) {
        const src = r * stride + c0;
        for (let c = cb; c < cEnd; c++) out[c * rows + r] = x[src + c];
      }
    }
  }
}

/** Scratch for linearBackward: buffers of the kernels' memory, grown on demand (the first step sizes them). */
export class LinearScratch {
  private bufs = new Map<string, Float32Array>();
  constructor(private readonly alloc: (n: number) => Float32Array) {}
  get(key: "wT" | "xT" | "doutT" | "wRows", n: number): Float32Array {
    let b = this.bufs.get(key);
    if (!b || b.length < n) { b = this.alloc(Math.max(n, 2 * (b?.length ?? 0))); this.bufs.set(key, b); }
    return b;
  }
}

/** Output rows of dW handled per transposed chunk of dout (bounds the scratch for the (V, D) head). */
export const OC_CHUNK = 256;
/** Widest reduction (K) handed to the NT kernel for dx; the vocabulary head is above it and uses NN. */
export const NT_MAX_K = 8192;

/**
 * Backward of out = x · Wᵀ (x (N, C), W (OC, C)): dx (N, C) (+= when dxAcc) dout · W (null: not needed);
 * dW (OC, C) += doutᵀ · x (accumulated, so micro-batches add up; null: a frozen weight). The dot-product
 * form (NT) is the fastest kernel, so W, x and slices of dout are transposed into scratch first
 * (O(N·(C + OC)) copies against O(N·C·OC) work).
 */
export function linearBackward(k: TrainingKernels, dx: Float32Array | null, dxAcc: boolean, dW: Float32Array | null,
  dout: Float32Array, x: Float32Array, W: Float32Array, N: number, C: number, OC: number, s: LinearScratch): void {
  if (dx) {
    if (OC <= NT_MAX_K) {
      const wT = s.get("wT", C * OC);
      k.transpose(wT, W, OC, C, C, 0); // (C, OC)
      k.abt(dx, dout, wT, N, C, OC, dxAcc);
    } else k.nn(dx, dout, W, N, C, OC, dxAcc);
  }
  if (!dW) return;
  const xT = s.get("xT", C * N), doutT = s.get("doutT", Math.min(OC_CHUNK, OC) * N);
  k.transpose(xT, x, N, C, C, 0); // (C, N)
  for (let o0 = 0; o0 < OC; o0 += OC_CHUNK) {
    const oc = Math.min(OC_CHUNK, OC - o0);
    k.transpose(doutT, dout, N, oc, OC, o0); // (oc, N)
    k.abt(dW.subarray(o0 * C, (o0 + oc) * C), doutT, xT, oc, C, N, true);
  }
}

/**
 * dx (N, C) (+)= dout (N, OC) · W (OC, C) for a frozen weight stored in another dtype: W's rows are read a
 * block at a time, widened to float32 (rows), so no float32 copy of the whole weight is kept.
 */
export function frozenLinearBackward(k: TrainingKernels, dx: Float32Array, dxAcc: boolean, dout: Float32Array,
  rows: (r0: number, n: number, out: Float32Array) => void, N: number, C: number, OC: number, s: LinearScratch): void {
  const block = Math.max(1, Math.min(OC, OC_CHUNK, Math.floor((1 << 18) / C)));
  const w = s.get("wRows", block * C), doutT = s.get("doutT", block * N);
  for (let o0 = 0; o0 < OC; o0 += block) {
    const n = Math.min(block, OC - o0);
    rows(o0, n, w);
    k.transpose(doutT, dout, N, n, OC, o0); // (n, N)
    k.tn(dx, doutT, w, N, C, n, dxAcc || o0 > 0);
  }
}
