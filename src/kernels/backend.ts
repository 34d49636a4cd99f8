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
  /** out (T, F) = silu(gu[:, :F]) * gu[:, F:], gu (T, 2F). */
  swiglu(out: Float32Array, gu: Float32Array, T: number, F: number): void;
  /** dst[r dstStride + c] = src[r srcStride + c] for r < rows, c < width (keys/values into the cache). */
  copyRows(dst: Float32Array, dstStride: number, src: Float32Array, srcStride: number, rows: number, width: number): void;
  /** x[i] += y[i] for i < n. */
  addInPlace(x: Float32Array, y: Float32Array, n: number): void;
  /** Device backends: send what the caller wrote into buf (a view of an alloc'd buffer) to the device. */
  write?(buf: Float32Array): void;
  /**
   * Device backends: resolves to a new array holding buf's values once the kernels queued so far are done
   * (a fresh copy, so reads in flight for two callers of one buffer never see each other's values).
   */
  read?(buf: Float32Array): Promise<Float32Array>;
  /** Release threads / memory. */
  dispose?(): void;
}
