// Shared set-up for the wasm kernel tests: the backends under test (threads 1 and 2, plain and relaxed
// SIMD), seeded random data, weights stored in every dtype, and the error bound of each comparison.

import type { Backend } from "../../src/kernels/backend.js";
import { createWasmBackend, type WasmBackendOptions } from "../../src/kernels/wasm/index.js";
import { f32ToBf16, f32ToF16, type DType, type StoredTensor } from "../../src/tensor/tensor.js";
import { quantize } from "../../src/kernels/quant.js";
import { enableRelaxedSimd } from "../../src/kernels/wasm/relaxed_simd.js";

// Node 20 validates relaxed SIMD only behind this V8 flag; it must be set before the module compiles.
enableRelaxedSimd();

export const WASM_CONFIGS: { label: string; opts: WasmBackendOptions }[] = [
  { label: "threads=1", opts: { threads: 1, relaxed: false } },
  { label: "threads=2", opts: { threads: 2, relaxed: false } },
  { label: "threads=2 relaxed", opts: { threads: 2, relaxed: true } },
];

export async function createAll(): Promise<Backend[]> {
  return Promise.all(WASM_CONFIGS.map((c) => createWasmBackend(c.opts)));
}

/** mulberry32: small, seeded, reproducible. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n values uniform in [-scale, scale) as float32. */
export function randn(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed), a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (r() * 2 - 1) * scale;
  return a;
}

/** Store float32 values (rows, cols) as a tensor of the given dtype (quantized: ggml's reference rounding). */
export function storeAs(dtype: DType, v: Float32Array, rows: number, cols: number, name = "w"): StoredTensor {
  let data: Uint8Array;
  if (dtype === "f32") data = new Uint8Array(v.slice().buffer);
  else if (dtype === "bf16" || dtype === "f16") {
    const u = new Uint16Array(v.length);
    for (let i = 0; i < v.length; i++) u[i] = dtype === "bf16" ? f32ToBf16(v[i]) : f32ToF16(v[i]);
    data = new Uint8Array(u.buffer);
  } else data = quantize(dtype, v);
  return { name, dtype, shape: [rows, cols], data };
}

/** Copy values into a buffer of the backend. */
export function put(be: Backend, v: ArrayLike<number>): Float32Array {
  const a = be.alloc(v.length);
  a.set(v);
  return a;
}

/** Largest |got - want| / bound over all i (≤ 1 passes), with the first offending index for the message. */
export function worst(got: Float32Array, want: Float32Array, bound: (i: number) => number): { ratio: number; at: number } {
  let ratio = 0, at = -1;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    const r = Number.isNaN(d) ? Infinity : d / bound(i);
    if (r > ratio) { ratio = r; at = i; }
  }
  return { ratio, at };
}
