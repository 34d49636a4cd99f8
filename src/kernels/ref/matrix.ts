// Weights as the reference backend holds them: the stored bytes, widened to f32 a row at a time.

import type { Matrix } from "../backend.js";
import type { DType } from "../../tensor/tensor.js";
import { f16ToF32 } from "../../tensor/tensor.js";
import { dequantizeRow } from "../quant.js";

export interface RefMatrix extends Matrix {
  readonly data: Uint8Array;
}

export function refMatrix(dtype: DType, rows: number, cols: number, data: Uint8Array): RefMatrix {
  return { dtype, rows, cols, data };
}

/** Widen row r of w into out (cols floats). */
export function widenRow(w: RefMatrix, r: number, out: Float32Array): void {
  const K = w.cols;
  const d = w.data;
  switch (w.dtype) {
    case "f32": {
      const dv = new DataView(d.buffer, d.byteOffset + r * K * 4, K * 4);
      for (let k = 0; k < K; k++) out[k] = dv.getFloat32(k * 4, true);
      return;
    }
    case "bf16": {
      const o = r * K * 2;
      const u = new Uint32Array(out.buffer, out.byteOffset, K);
      for (let k = 0; k < K; k++) u[k] = (d[o + 2 * k] | (d[o + 2 * k + 1] << 8)) << 16;
      return;
    }
    case "f16": {
      const o = r * K * 2;
      for (let k = 0; k < K; k++) out[k] = f16ToF32(d[o + 2 * k] | (d[o + 2 * k + 1] << 8));
      return;
    }
    default:
      dequantizeRow(w.dtype, d, r, K, out);
      return;
  }
}
