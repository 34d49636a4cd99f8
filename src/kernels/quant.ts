// llama.cpp's block quantization formats. 32 weights a block with an f16 scale d:
//   q8_0: {f16 d; int8 q[32]}                  w = d * q                     (34 bytes)
//   q4_0: {f16 d; uint8 qs[16]}                w = d * (nibble - 8)          (18 bytes)
//   q5_0: {f16 d; uint32 qh; uint8 qs[16]}     w = d * (nibble | hbit << 4) - 16·d   (22 bytes)
//   q5_1: {f16 d; f16 m; uint32 qh; uint8 qs[16]}  w = d * (nibble | hbit << 4) + m  (24 bytes)
// Nibbles: byte j holds weight j (low) and j+16 (high); qh bit j is weight j's fifth bit.
// The 256-weight K-quants (q4_k, q5_k, q6_k) are in kquant.ts; dequantizeRow / quantize dispatch to them.
// Reference: ggml/src/ggml-quants.c (quantize_row_*_ref, dequantize_row_*). The quantizers repeat ggml's
// float32 operations in order (Math.fround after each), so the bytes equal llama-quantize's.

import { f16ToF32, f32ToF16, QUANT_BLOCKS, type QuantDType } from "../tensor/tensor.js";
import { dequantizeKRow, quantizeK } from "./kquant.js";

export const QK = 32;

export function blockBytes(dtype: QuantDType): number {
  return QUANT_BLOCKS[dtype][1];
}

/** Weights a block of dtype (32, or 256 for K-quants). */
export function blockSize(dtype: QuantDType): number {
  return QUANT_BLOCKS[dtype][0];
}

const f = Math.fround;

/** Dequantize row r (K weights, K a multiple of the block size) of a quantized matrix into out, as ggml does. */
export function dequantizeRow(dtype: QuantDType, data: Uint8Array, r: number, K: number, out: Float32Array): void {
  if (dtype === "q4_k" || dtype === "q5_k" || dtype === "q6_k") { dequantizeKRow(dtype, data, r, K, out); return; }
  const bb = blockBytes(dtype);
  const nb = K / QK;
  let o = r * nb * bb;
  for (let b = 0; b < nb; b++, o += bb) {
    const d = f16ToF32(data[o] | (data[o + 1] << 8));
    const base = b * QK;
    switch (dtype) {
      case "q8_0":
        for (let j = 0; j < QK; j++) out[base + j] = d * ((data[o + 2 + j] << 24) >> 24);
        break;
      case "q4_0":
        for (let j = 0; j < 16; j++) {
          const byte = data[o + 2 + j];
          out[base + j] = d * ((byte & 0x0f) - 8);
          out[base + j + 16] = d * ((byte >> 4) - 8);
        }
        break;
      case "q5_0": case "q5_1": {
        const one = dtype === "q5_1";
        const m = one ? f16ToF32(data[o + 2] | (data[o + 3] << 8)) : 0;
        const h = o + (one ? 4 : 2), qs = h + 4;
        const qh = (data[h] | (data[h + 1] << 8) | (data[h + 2] << 16) | (data[h + 3] << 24)) >>> 0;
        for (let j = 0; j < 16; j++) {
          const byte = data[qs + j];
          const x0 = (byte & 0x0f) | (((qh >>> j) << 4) & 0x10);
          const x1 = (byte >> 4) | ((qh >>> (j + 12)) & 0x10);
          if (one) { out[base + j] = f(f(x0 * d) + m); out[base + j + 16] = f(f(x1 * d) + m); }
          else { out[base + j] = (x0 - 16) * d; out[base + j + 16] = (x1 - 16) * d; }
        }
        break;
      }
    }
  }
}

/**
 * q4_1 blocks ({f16 d; f16 m; uint8 qs[16]}, w = d·nibble + m: a type llama.cpp writes, which the engine reads but
 * keeps no kernels for) as q5_1 ones with every fifth bit clear, losslessly: q5_1's w = d·q + m with q < 16 is
 * the same float32 expression, so the weights are bitwise dequantize_row_q4_1's, at 24 bytes a block instead of 20.
 */
export function q4_1ToQ5_1(src: Uint8Array): Uint8Array {
  if (src.length % 20 !== 0) throw new RangeError(`q4_1: ${src.length} bytes is not a whole number of 20-byte blocks`);
  const nb = src.length / 20, out = new Uint8Array(nb * 24);
  for (let i = 0; i < nb; i++) {
    out.set(src.subarray(i * 20, i * 20 + 4), i * 24); // d, m; qh stays 0
    out.set(src.subarray(i * 20 + 4, i * 20 + 20), i * 24 + 8);
  }
  return out;
}

/** Quantize float32 rows (length a multiple of the block size) exactly as ggml's reference does. */
export function quantize(dtype: QuantDType, x: Float32Array): Uint8Array {
  const bs = blockSize(dtype);
  if (x.length % bs !== 0) throw new RangeError(`quantize ${dtype}: length ${x.length} is not a multiple of ${bs}`);
  if (dtype === "q4_k" || dtype === "q5_k" || dtype === "q6_k") return quantizeK(dtype, x);
  const nb = x.length / QK;
  const bb = blockBytes(dtype);
  const out = new Uint8Array(nb * bb);
  const putHalf = (o: number, v: number) => { const h = f32ToF16(v); out[o] = h & 0xff; out[o + 1] = h >> 8; };
  for (let b = 0; b < nb; b++) {
    const o = b * bb, xo = b * QK;
    if (dtype === "q8_0") {
      let amax = 0;
      for (let j = 0; j < QK; j++) amax = Math.max(amax, Math.abs(x[xo + j]));
      const d = f(amax / 127);
      const id = d ? f(1 / d) : 0;
      putHalf(o, d);
      for (let j = 0; j < QK; j++) out[o + 2 + j] = roundHalfAway(f(x[xo + j] * id)) & 0xff;
    } else if (dtype === "q4_0" || dtype === "q5_0") {
      // The element of largest |x| (first on ties) with its sign: it becomes the most negative level.
      let amax = 0, max = 0;
      for (let j = 0; j < QK; j++) {
        const v = x[xo + j];
        if (Math.abs(v) > amax) { amax = Math.abs(v); max = v; }
      }
      const five = dtype === "q5_0";
      const d = f(max / (five ? -16 : -8));
      const id = d ? f(1 / d) : 0;
      putHalf(o, d);
      let qh = 0;
      for (let j = 0; j < 16; j++) {
        const x0 = f(x[xo + j] * id), x1 = f(x[xo + 16 + j] * id);
        if (!five) {
          const q0 = Math.min(15, Math.trunc(f(x0 + 8.5)));
          const q1 = Math.min(15, Math.trunc(f(x1 + 8.5)));
          out[o + 2 + j] = q0 | (q1 << 4);
        } else {
          const q0 = Math.min(31, Math.trunc(f(x0 + 16.5))), q1 = Math.min(31, Math.trunc(f(x1 + 16.5)));
          out[o + 6 + j] = (q0 & 15) | ((q1 & 15) << 4);
          qh |= ((q0 & 0x10) >> 4) << j;
          qh |= ((q1 & 0x10) >> 4) << (j + 16);
        }
      }
      if (five) writeU32(out, o + 2, qh);
    } else { // q5_1: d = (max − min) / 31, m = min
      let min = Infinity, max = -Infinity;
      for (let j = 0; j < QK; j++) { const v = x[xo + j]; if (v < min) min = v; if (v > max) max = v; }
      const d = f(f(max - min) / 31);
      const id = d ? f(1 / d) : 0;
      putHalf(o, d); putHalf(o + 2, min);
      let qh = 0;
      for (let j = 0; j < 16; j++) {
        const q0 = Math.trunc(f(f(f(x[xo + j] - min) * id) + 0.5)) & 0xff;
        const q1 = Math.trunc(f(f(f(x[xo + 16 + j] - min) * id) + 0.5)) & 0xff;
        out[o + 8 + j] = (q0 & 15) | ((q1 & 15) << 4);
        qh |= ((q0 & 0x10) >> 4) << j;
        qh |= ((q1 & 0x10) >> 4) << (j + 16);
      }
      writeU32(out, o + 4, qh);
    }
  }
  return out;
}

function writeU32(out: Uint8Array, o: number, v: number): void {
  out[o] = v & 0xff; out[o + 1] = (v >>> 8) & 0xff; out[o + 2] = (v >>> 16) & 0xff; out[o + 3] = (v >>> 24) & 0xff;
}

/** C's roundf: halves away from zero. */
function roundHalfAway(v: number): number {
  return v < 0 ? -Math.round(-v) : Math.round(v);
}
