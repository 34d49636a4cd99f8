// Q6_K dequantization, read-only: llama-quantize stores the (tied) output matrix of real OpenELM q4_0
// files as Q6_K, so the GGUF loader widens it to f32. We never write Q6_K.
// Reference: ggml/src/ggml-quants.c dequantize_row_q6_K; block_q6_K in ggml-common.h.
//
// Super-block of 256 weights, 210 bytes: ql[128] (low 4 bits), qh[64] (high 2 bits), int8 scales[16]
// (one per 16 weights), f16 d. Weight = d * scale * (q6 - 32), computed in float32 in that order.

import { f16ToF32 } from "../tensor/tensor.js";

export const QK_K = 256;
export const Q6_K_BLOCK_BYTES = 210;

/** Dequantize `data` (n / 256 Q6_K blocks) into a new Float32Array of n weights. */
export function dequantizeQ6K(data: Uint8Array, n: number): Float32Array {
  const y = new Float32Array(n);
  const nb = n / QK_K;
  const f = Math.fround;
  for (let i = 0; i < nb; i++) {
    const b = i * Q6_K_BLOCK_BYTES;
    const d = f16ToF32(data[b + 208] | (data[b + 209] << 8));
    let ql = b, qh = b + 128, sc = b + 192, yo = i * QK_K;
    for (let half = 0; half < 2; half++) {
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const h = data[qh + l];
        const q1 = ((data[ql + l] & 0xf) | ((h & 3) << 4)) - 32;
        const q2 = ((data[ql + l + 32] & 0xf) | (((h >> 2) & 3) << 4)) - 32;
        const q3 = ((data[ql + l] >> 4) | (((h >> 4) & 3) << 4)) - 32;
        const q4 = ((data[ql + l + 32] >> 4) | (((h >> 6) & 3) << 4)) - 32;
        const s = (k: number) => (data[sc + k] << 24) >> 24; // int8
        // C evaluates d * sc * q left to right in float: (d * sc) rounded, then * q rounded.
        y[yo + l] = f(f(d * s(is)) * q1);
        y[yo + l + 32] = f(f(d * s(is + 2)) * q2);
        y[yo + l + 64] = f(f(d * s(is + 4)) * q3);
        y[yo + l + 96] = f(f(d * s(is + 6)) * q4);
      }
      yo += 128; ql += 64; qh += 32; sc += 8;
    }
  }
  return y;
}
