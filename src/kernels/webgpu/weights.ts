// Weights on the device: a stored (rows, cols) tensor uploaded in the layout weights.wgsl reads. Plain
// dtypes go up as stored; q8_0/q4_0 blocks (kernels/quant.ts) are split into a word-aligned quant plane
// and an f32 scale plane, since a 34- or 18-byte block straddles 32-bit words.

import type { Matrix } from "../backend.js";
import type { DType, StoredTensor } from "../../tensor/tensor.js";
import { bytesFor, f16ToF32 } from "../../tensor/tensor.js";
import { QK, blockBytes } from "../quant.js";
import type { GpuContext } from "./context.js";

/** A weight matrix resident on the device. */
export interface GpuMatrix extends Matrix {
  readonly buffer: GPUBuffer;
  /** The WT override of weights.wgsl. */
  readonly wt: number;
  /** Word offset of the scale plane (quantized), else 0. */
  readonly soff: number;
}

const WT: Record<DType, number> = { f32: 0, f16: 1, bf16: 2, q8_0: 3, q4_0: 4 };

export function loadMatrix(ctx: GpuContext, t: StoredTensor, rows: number, cols: number): GpuMatrix {
  const expect = bytesFor(t.dtype, rows * cols);
  const data = t.data; // once: a lazily read tensor reads its file at each access
  if (data.byteLength !== expect)
    throw new RangeError(`webgpu backend: tensor "${t.name}" (${t.dtype}, ${rows}x${cols}) has ${data.byteLength} bytes, expected ${expect}`);
  if (t.dtype !== "q8_0" && t.dtype !== "q4_0")
    return { dtype: t.dtype, rows, cols, buffer: ctx.upload(data, `tensor "${t.name}"`), wt: WT[t.dtype], soff: 0 };
  if (cols % QK !== 0) throw new RangeError(`webgpu backend: tensor "${t.name}": ${t.dtype} needs cols % 32 == 0, got ${cols}`);
  const nBlocks = (rows * cols) / QK, bb = blockBytes(t.dtype), qBytes = bb - 2; // 32 or 16 quant bytes a block
  const planes = new Uint8Array(nBlocks * (qBytes + 4));
  const scales = new Float32Array(planes.buffer, nBlocks * qBytes, nBlocks);
  for (let b = 0; b < nBlocks; b++) {
    const o = b * bb;
    scales[b] = f16ToF32(data[o] | (data[o + 1] << 8));
    planes.set(data.subarray(o + 2, o + bb), b * qBytes);
  }
  return { dtype: t.dtype, rows, cols, buffer: ctx.upload(planes, `tensor "${t.name}"`), wt: WT[t.dtype], soff: (nBlocks * qBytes) / 4 };
}
