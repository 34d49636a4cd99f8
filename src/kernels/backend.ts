// The Backend interface: every numeric op of the OpenELM forward goes through it.
// kernels/ref is the readable oracle; faster backends (kernels/wasm) are tested against it.
// Buffers are Float32Arrays the backend allocated (so a WASM backend can hand out views of its
// own memory and find the pointer from byteOffset); callers pass subarrays for offsets.
// A device backend (WebGPU) keeps each buffer on the device and only queues kernels: its Float32Array is
// a CPU handle whose values reach the device through write() and come back through read(); CPU backends
// have neither method.
// Shape letters: T tokens in this step, D model_dim, hd head_dim, nQ/nKV heads, F ffn width.

import type { DType, StoredTensor } from "../tensor/tensor.js";

/** A weight matrix (rows = out_features, cols = in_features, torch Linear layout) held by a backend. */
export interface Matrix {
  readonly dtype: DType;
  readonly rows: number;
  readonly cols: number;
}

/** One sequence's part of a batched attention (Backend.attentionBatch). */
export interface AttentionSegment {
  /** First row of this sequence in out and q. */
  row: number;
  T: number;
  pos0: number;
  kCache: Float32Array;
  vCache: Float32Array;
}

export interface Backend {
  readonly name: string;
  /** A zeroed float32 buffer of n elements that this backend's kernels can read and write. */
  alloc(n: number): Float32Array;
  /** Take a stored (rows, cols) weight, keeping its dtype; the backend may copy it into its own memory. */
  loadMatrix(t: StoredTensor, rows: number, cols: number): Matrix;
  /** Take a stored vector (norm weights), widened to float32. */
  loadVector(t: StoredTensor): Float32Array;

  /** out (T, cols) = rows ids of table (V, cols), widened to f32. */
  embed(out: Float32Array, table: Matrix, ids: ArrayLike<number>): void;
  /** out (T, w.rows) = x (T, w.cols) · wᵀ. */
  matmul(out: Float32Array, x: Float32Array, w: Matrix, T: number): void;
  /** out (rows, dim) = x / sqrt(mean(x²) + eps) * w, per row; out may alias x. */
  rmsnorm(out: Float32Array, x: Float32Array, w: Float32Array, rows: number, dim: number, eps: number): void;
  /**
   * In place on qkv (T, (nQ + 2 nKV) hd): per-head RMSNorm of the query heads (qNorm) and key heads
   * (kNorm), then rotate-half RoPE at positions pos0 … pos0+T-1 with base theta. Values untouched.
   * qNorm/kNorm null (normalize_qk_projections = false): RoPE only.
   */
  qkNormRope(qkv: Float32Array, T: number, nQ: number, nKV: number, hd: number,
    qNorm: Float32Array | null, kNorm: Float32Array | null, eps: number, pos0: number, theta: number): void;
  /**
   * Causal GQA attention. q: rows of stride qStride, heads at [h*hd, (h+1)*hd) of each row.
   * kCache/vCache (≥ pos0+T, nKV hd) already hold keys/values for positions 0 … pos0+T-1.
   * out (T, nQ hd): softmax(q kᵀ / sqrt(hd)) v, query t sees keys s ≤ pos0+t; query head h uses kv head h / (nQ/nKV).
   */
  attention(out: Float32Array, q: Float32Array, qStride: number, kCache: Float32Array, vCache: Float32Array,
    T: number, pos0: number, nQ: number, nKV: number, hd: number): void;
  /**
   * attention() for several sequences of one batched step, each segment its own rows (out and q from row `row`),
   * cache and positions: the same outputs as one attention() call a segment, in one dispatch (optional: a CPU
   * pool then splits the whole step's work once, where a call a sequence joins its threads once a sequence).
   */
  attentionBatch?(out: Float32Array, q: Float32Array, qStride: number, segs: readonly AttentionSegment[],
    nQ: number, nKV: number, hd: number): void;
  /** out (T, F) = silu(gu[:, :F]) * gu[:, F:], gu (T, 2F). */
  swiglu(out: Float32Array, gu: Float32Array, T: number, F: number): void;
  /** dst[r dstStride + c] = src[r srcStride + c] for r < rows, c < width (keys/values into the cache). */
  copyRows(dst: Float32Array, dstStride: number, src: Float32Array, srcStride: number, rows: number, width: number): void;
  /** x[i] += y[i] for i < n. */
  addInPlace(x: Float32Array, y: Float32Array, n: number): void;
  /**
   * Greedy choice over a logits row in this backend's memory, as generate/sampler.ts's argmax (the first
   * largest; NaN never): optional, for CPU backends whose kernels scan the row faster than a JS loop.
   */
  argmax?(x: Float32Array): number;
  /** The kernels training adds (absent: training uses the plain-TS set in train/autograd). */
  readonly training?: TrainingKernels;
  /** Device backends: send what the caller wrote into buf (a view of an alloc'd buffer) to the device. */
  write?(buf: Float32Array): void;
  /**
   * Device backends: resolves to a new array holding buf's values once the kernels queued so far are done
   * (a fresh copy, so reads in flight for two callers of one buffer never see each other's values).
   */
  read?(buf: Float32Array): Promise<Float32Array>;
  /**
   * Rows a forward pass runs at once (default MICRO_BATCH in models/openelm.ts): a device backend wants
   * long prompts in few large steps, since each kernel call costs a fixed dispatch overhead.
   */
  readonly microBatch?: number;
  /** Release threads / memory. */
  dispose?(): void;
}

/**
 * What training needs beyond the forward ops: the other matmul layouts, fused cross-entropy rows and the
 * backward rules (train/autograd holds the plain-TS versions, the oracle). Row-major float32 buffers from the
 * backend's alloc (targets from allocI32); "acc" means add into out instead of overwriting it. Shapes:
 * N rows (tokens, B sequences of T), D width, V vocab, F ffn width, S = (nQ + 2 nKV) hd.
 */
export interface TrainingKernels {
  readonly name: string;
  allocI32(n: number): Int32Array;
  /** out (M, N) (+)= A (M, K) · B (N, K)ᵀ. */
  abt(out: Float32Array, A: Float32Array, B: Float32Array, M: number, N: number, K: number, acc: boolean): void;
  /** out (M, N) (+)= A (M, K) · B (K, N). */
  nn(out: Float32Array, A: Float32Array, B: Float32Array, M: number, N: number, K: number, acc: boolean): void;
  /** out (M, N) (+)= A (K, M)ᵀ · B (K, N). */
  tn(out: Float32Array, A: Float32Array, B: Float32Array, M: number, N: number, K: number, acc: boolean): void;
  /** out (cols, rows) = columns [c0, c0 + cols) of x (rows, stride), transposed. */
  transpose(out: Float32Array, x: Float32Array, rows: number, cols: number, stride: number, c0: number): void;
  /** Per row of logits (N, V): lse = logsumexp, tl = the target's logit (both 0 where the target is −100). */
  ceForward(lse: Float32Array, tl: Float32Array, logits: Float32Array, targets: Int32Array, N: number, V: number): void;
  /** In place: logits become (cs + zs · lse) · softmax − cs · onehot(target); rows with target −100 become 0. */
  ceBackward(logits: Float32Array, lse: Float32Array, targets: Int32Array, N: number, V: number, cs: number, zs: number): void;
  /** dgu (N, 2F) (overwritten) of swiglu given dout (N, F). */
  swigluBackward(dgu: Float32Array, dout: Float32Array, gu: Float32Array, N: number, F: number): void;
  /** RMSNorm backward: dx (N, D) (+)= …, dw (D) += … (null: a frozen weight). */
  rmsnormBackward(dx: Float32Array, dw: Float32Array | null, dy: Float32Array, x: Float32Array, w: Float32Array,
    N: number, D: number, eps: number, acc: boolean): void;
  /**
   * qkNormRope backward over B = N / T sequences at positions 0 … T−1: dqkv (N, S) (overwritten) from dy (N, S)
   * and the pre-norm qkv; dqNorm / dkNorm (hd) += (null: frozen or absent).
   */
  qkNormRopeBackward(dqkv: Float32Array, dqNorm: Float32Array | null, dkNorm: Float32Array | null, dy: Float32Array,
    qkv: Float32Array, qNorm: Float32Array | null, kNorm: Float32Array | null, N: number, T: number, nQ: number,
    nKV: number, hd: number, eps: number, theta: number): void;
  /** qkv (N, S) token-major -> q (B, nQ, T, hd), k, v (B, nKV, T, hd) head-major; merge: the reverse. */
  splitHeads(qkv: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array, N: number, T: number, nQ: number,
    nKV: number, hd: number, merge: boolean): void;
}
