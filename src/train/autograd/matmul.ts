// Linear layer forward/backward (llm.c matmul_forward / matmul_backward), float32 storage, float64 sums.
// Every product is one kernel, out (M, N) (+)= A (M, K) · Bᵀ (N, K), both operands contiguous along K:
// forward x·Wᵀ is already that shape; the backward transposes W, dout and x into scratch first so
// dx and dW use the same register-blocked dot-product loop (4 × 4 outputs per pass over K).
// Shapes: N rows (tokens), C in_features, OC out_features; W (OC, C) in torch Linear layout.

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

/**
 * The kernels the training model runs on: abt (out = A · Bᵀ) is required; the SIMD set (train/wasm) adds the
 * other matmul layouts, the transpose, fused cross-entropy and SwiGLU rows, and its own memory (alloc). The
 * default, serialMatmul, is the plain TypeScript loop on this thread.
 */
export interface MatmulRunner {
  readonly name?: string;
  /** Zeroed float32 buffers this runner can work on (default: SharedArrayBuffer-backed arrays). */
  alloc?(n: number): Float32Array;
  abt(out: Float32Array, A: Float32Array, B: Float32Array, M: number, N: number, K: number, accumulate: boolean): void;
  /** out (M, N) (+)= A (M, K) · B (K, N); with tn, the backward needs no transposes. */
  nn?(out: Float32Array, A: Float32Array, B: Float32Array, M: number, N: number, K: number, accumulate: boolean): void;
  /** out (cols, rows) = columns [c0, c0 + cols) of x (rows, stride), transposed. */
  transpose?(out: Float32Array, x: Float32Array, rows: number, cols: number, stride: number, c0: number): void;
  /** SwiGLU rows (see swiglu.ts), float32 with a polynomial exp. */
  swigluForward?(out: Float32Array, gu: Float32Array, N: number, F: number): void;
  swigluBackward?(dgu: Float32Array, dout: Float32Array, gu: Float32Array, N: number, F: number): void;
  /** Int32 buffers in the runner's memory (targets for the fused cross-entropy). */
  allocI32?(n: number): Int32Array;
  /** Fused cross-entropy rows (see cross_entropy.ts): lse and target logits per row. */
  ceForward?(lse: Float32Array, tl: Float32Array, logits: Float32Array, targets: Int32Array, N: number, V: number): void;
  /** In place: logits become (cs + zs · lse) · softmax − cs · onehot; ignored rows 0. */
  ceBackward?(logits: Float32Array, lse: Float32Array, targets: Int32Array, N: number, V: number, cs: number, zs: number): void;
  /** out (M, N) (+)= A (K, M)ᵀ · B (K, N). */
  tn?(out: Float32Array, A: Float32Array, B: Float32Array, M: number, N: number, K: number, accumulate: boolean): void;
}

export const serialMatmul: MatmulRunner = {
  name: "js",
  abt(out, A, B, M, N, K, accumulate) { matmulABtRows(out, A, B, 0, M, N, K, accumulate); },
};

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

/** Scratch for linearBackward, sized once for the largest layer of a model. */
export interface LinearScratch {
  wT: Float32Array;    // (C, OC) largest
  xT: Float32Array;    // (C, N) largest
  doutT: Float32Array; // (OC_CHUNK, N)
}

/** Output rows of dW handled per transposed chunk of dout (bounds the scratch for the (V, D) head). */
export const OC_CHUNK = 256;
/** Widest reduction (K) the SIMD backward hands to the NT kernel; the vocabulary head is above it. */
export const NT_MAX_K = 8192;

/** out (N, OC) = x (N, C) · Wᵀ. */
export function linearForward(mm: MatmulRunner, out: Float32Array, x: Float32Array, W: Float32Array,
  N: number, C: number, OC: number): void {
  mm.abt(out, x, W, N, OC, C, false);
}

/**
 * Backward of out = x · Wᵀ: dx (N, C) = dout · W (overwritten, skipped when dx is null);
 * dW (OC, C) += doutᵀ · x (accumulated, so micro-batches add up; skipped when dW is null: a frozen weight).
 */
export function linearBackward(mm: MatmulRunner, dx: Float32Array | null, dW: Float32Array | null,
  dout: Float32Array, x: Float32Array, W: Float32Array, N: number, C: number, OC: number,
  s: LinearScratch): void {
  if (mm.nn && mm.transpose) {
    // SIMD kernels: the dot-product form (NT) is the fastest, so transpose W, x and slices of dout into
    // scratch (O(N·(C + OC)) copies against O(N·C·OC) work). The vocabulary head's W is too wide for NT's
    // blocking (K = V), so its dx uses the NN form instead.
    if (dx) {
      if (OC <= NT_MAX_K) {
        mm.transpose(s.wT, W, OC, C, C, 0); // (C, OC)
        mm.abt(dx, dout, s.wT, N, C, OC, false);
      } else mm.nn(dx, dout, W, N, C, OC, false);
    }
    if (!dW) return;
    mm.transpose(s.xT, x, N, C, C, 0); // (C, N)
    for (let o0 = 0; o0 < OC; o0 += OC_CHUNK) {
      const oc = Math.min(OC_CHUNK, OC - o0);
      mm.transpose(s.doutT, dout, N, oc, OC, o0); // (oc, N)
      mm.abt(dW.subarray(o0 * C, (o0 + oc) * C), s.doutT, s.xT, oc, C, N, true);
    }
    return;
  }
  if (dx) {
    transposeInto(s.wT, W, OC, C); // (C, OC)
    mm.abt(dx, dout, s.wT, N, C, OC, false);
  }
  if (!dW) return;
  transposeInto(s.xT, x, N, C); // (C, N)
  for (let o0 = 0; o0 < OC; o0 += OC_CHUNK) {
    const oc = Math.min(OC_CHUNK, OC - o0);
    transposeInto(s.doutT, dout, N, oc, OC, o0); // (oc, N)
    mm.abt(dW.subarray(o0 * C, (o0 + oc) * C), s.doutT, s.xT, oc, C, N, true);
  }
}
