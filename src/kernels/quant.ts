// llama.cpp's block quantization formats, 32 weights a block with an f16 scale d:
//   q8_0: {f16 d; int8 q[32]}            w = d * q                     (34 bytes)
//   q4_0: {f16 d; uint8 qs[16]}          w = d * ((nibble) - 8); low nibbles are weights 0..15,
//                                        high nibbles weights 16..31   (18 bytes)
// Reference: ggml/src/ggml-quants.c (quantize_row_q8_0_ref, quantize_row_q4_0_ref, dequantize_row_*).

import { f16ToF32, f32ToF16 } from "../tensor/tensor.js";

export const QK = 32;

export function blockBytes(dtype: "q8_0" | "q4_0"): number {
  return dtype === "q8_0" ? 34 : 18;
}

/** Dequantize row r (K weights, K % 32 == 0) of a quantized matrix into out. */
export function dequantizeRow(dtype: "q8_0" | "q4_0", data: Uint8Array, r: number, K: number, out: Float32Array): void {
  const bb = blockBytes(dtype);
  const nb = K / QK;
  let o = r * nb * bb;
  for (let b = 0; b < nb; b++, o += bb) {
    const d = f16ToF32(data[o] | (data[o + 1] << 8));
    const base = b * QK;
    if (dtype === "q8_0") {
      for (let j = 0; j < QK; j++) out[base + j] = d * ((data[o + 2 + j] << 24) >> 24);
    } else {
      for (let j = 0; j < 16; j++) {
        const byte = data[o + 2 + j];
        out[base + j] = d * ((byte & 0x0f) - 8);
        out[base + j + 16] = d * ((byte >> 4) - 8);
      }
    }
  }
}

/** Quantize float32 rows (length a multiple of 32) to q8_0 / q4_0 bytes exactly as ggml's reference does. */
export function quantize(dtype: "q8_0" | "q4_0", x: Float32Array): Uint8Array {
  if (x.length % QK !== 0) throw new RangeError(`quantize ${dtype}: length ${x.length} is not a multiple of ${QK}`);
  const nb = x.length / QK;
  const bb = blockBytes(dtype);
  const out = new Uint8Array(nb * bb);
  for (let b = 0; b < nb; b++) {
    const o = b * bb, xo = b * QK;
    if (dtype === "q8_0") {
      let amax = 0;
      for (let j = 0; j < QK; j++) amax = Math.max(amax, Math.abs(x[xo + j]));
      const d = Math.fround(amax / 127);
      const id = d ? Math.fround(1 / d) : 0;
      const dh = f32ToF16(d);
      out[o] = dh & 0xff; out[o + 1] = dh >> 8;
      for (let j = 0; j < QK; j++) out[o + 2 + j] = roundHalfAway(Math.fround(x[xo + j] * id)) & 0xff;
    } else {
      let amax = 0, max = 0;
      for (let j = 0; j < QK; j++) {
        const v = x[xo + j];
        if (Math.abs(v) > amax) { amax = Math.abs(v); max = v; }
      }
      const d = Math.fround(max / -8);
      const id = d ? Math.fround(1 / d) : 0;
      const dh = f32ToF16(d);
      out[o] = dh & 0xff; out[o + 1] = dh >> 8;
      for (let j = 0; j < 16; j++) {
        const x0 = Math.fround(x[xo + j] * id), x1 = Math.fround(x[xo + 16 + j] * id);
        const q0 = Math.min(15, Math.trunc(Math.fround(x0 + 8.5)));
        const q1 = Math.min(15, Math.trunc(Math.fround(x1 + 8.5)));
        out[o + 2 + j] = q0 | (q1 << 4);
      }
    }
  }
  return out;
}

/** C's roundf: halves away from zero. */
function roundHalfAway(v: number): number {
  return v < 0 ? -Math.round(-v) : Math.round(v);
}
