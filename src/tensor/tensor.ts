// Tensors as the checkpoint stores them: a dtype, a shape and little-endian bytes.
// Weights stay in their stored dtype (BF16 stays 2 bytes a parameter); kernels widen on the fly.

/**
 * Storage types a weight can have. q8_0 / q4_0 / q5_0 / q5_1 use llama.cpp's 32-weight blocks with an f16
 * scale; q4_k / q5_k / q6_k its 256-weight K-quant super-blocks (kernels/quant.ts, kernels/kquant.ts).
 */
export type DType = "f32" | "bf16" | "f16" | QuantDType;
export type QuantDType = "q8_0" | "q4_0" | "q5_0" | "q5_1" | "q4_k" | "q5_k" | "q6_k";

/** [weights a block, bytes a block] of each block-quantized dtype (ggml's blck_size / type_size). */
export const QUANT_BLOCKS: Record<QuantDType, readonly [number, number]> = {
  q8_0: [32, 34], q4_0: [32, 18], q5_0: [32, 22], q5_1: [32, 24], q4_k: [256, 144], q5_k: [256, 176], q6_k: [256, 210],
};

export function isQuantized(dtype: DType): dtype is QuantDType {
  return dtype in QUANT_BLOCKS;
}

/** A tensor in its stored form. `data` is exactly the tensor's bytes (no padding). */
export interface StoredTensor {
  name: string;
  dtype: DType;
  shape: number[];
  data: Uint8Array;
  /**
   * Lazily read tensors only: bytes [start, start + into.length) of `data`, read from the file straight into
   * `into`, so a loader can fill its own memory piece by piece without a whole-tensor copy on the heap.
   */
  readInto?(start: number, into: Uint8Array): void;
}

/** Bytes [start, start + into.length) of t's data into `into`: from the file when t is read lazily. */
export function readTensorBytes(t: StoredTensor, start: number, into: Uint8Array, data?: Uint8Array): void {
  if (t.readInto) t.readInto(start, into);
  else into.set((data ?? t.data).subarray(start, start + into.length));
}

/** Bytes of count elements (block-quantized types: count / weights-a-block blocks). */
export function bytesFor(dtype: DType, count: number): number {
  switch (dtype) {
    case "f32": return count * 4;
    case "bf16": case "f16": return count * 2;
    default: { const [n, b] = QUANT_BLOCKS[dtype]; return (count / n) * b; }
  }
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** bfloat16 bits -> float32 (exact). */
export function bf16ToF32(bits: number): number {
  u32Scratch[0] = bits << 16;
  return f32Scratch[0];
}

/** float32 -> bfloat16 bits, round to nearest even (NaN stays NaN). */
export function f32ToBf16(x: number): number {
  f32Scratch[0] = x;
  const u = u32Scratch[0];
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >>> 16) | 0x40) & 0xffff;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

let f16Table: Float32Array | null = null;

/** IEEE half bits -> float32 (exact), through a 65,536-entry table built on first use. */
export function f16ToF32(h: number): number {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) f16Table[i] = f16ToF32Slow(i);
  }
  return f16Table[h & 0xffff];
}

function f16ToF32Slow(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** float32 -> IEEE half bits, round to nearest even. */
export function f32ToF16(x: number): number {
  f32Scratch[0] = x;
  const u = u32Scratch[0];
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  let mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && (half & 1))) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1))) half++;
  return sign | half;
}

/** Widen a stored plain-dtype tensor to float32 (a copy for bf16/f16; a copy for f32 too, so callers own it). */
export function toFloat32(t: { dtype: DType; data: Uint8Array }): Float32Array {
  const data = t.data; // once: a lazily read tensor (io/gguf_openelm.ts) reads its file at each access
  const n = t.dtype === "f32" ? data.byteLength / 4 : data.byteLength / 2;
  const out = new Float32Array(n);
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (t.dtype === "f32") for (let i = 0; i < n; i++) out[i] = dv.getFloat32(i * 4, true);
  else if (t.dtype === "bf16") {
    const o32 = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) o32[i] = dv.getUint16(i * 2, true) << 16;
  } else if (t.dtype === "f16") for (let i = 0; i < n; i++) out[i] = f16ToF32(dv.getUint16(i * 2, true));
  else throw new Error(`toFloat32: ${t.dtype} needs dequantization (kernels/quant)`);
  return out;
}
