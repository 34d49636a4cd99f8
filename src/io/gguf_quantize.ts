// Weight type conversion as llama.cpp does it: convert_hf_to_gguf.py --outtype f32|f16|bf16 and
// llama-quantize q8_0|q4_0 (default options). Used by `openelm quantize` and by loading with --dtype.
// References: llama.cpp src/llama-quant.cpp (llama_tensor_get_type), convert_hf_to_gguf.py (prepare_tensors).
//
// Rules: 1-D tensors (every norm weight) stay / become F32. 2-D matrices take the target type, except that
// for q4_0 the output matrix (lm_head, or token_embeddings when tied) is Q8_0: llama-quantize asks for Q6_K
// there and falls back to Q8_0 when rows are not a multiple of 256; we never write Q6_K, so we always use
// the fallback (a little larger and more accurate than Q6_K).

import { CheckpointError } from "../errors.js";
import { f32ToBf16, f32ToF16, type DType, type StoredTensor } from "../tensor/tensor.js";
import { quantize } from "../kernels/quant.js";
import { storedToFloat32 } from "./gguf_openelm.js";

export type WeightType = "f32" | "f16" | "bf16" | "q8_0" | "q4_0";
export const WEIGHT_TYPES: WeightType[] = ["f32", "f16", "bf16", "q8_0", "q4_0"];

/** The dtype llama.cpp gives a tensor of this name and rank when the file type is `type`. */
export function targetDtype(name: string, shape: number[], type: WeightType, tied: boolean): DType {
  if (shape.length !== 2) return "f32";
  const isOutput = name === "lm_head.weight" || (tied && name === "transformer.token_embeddings.weight");
  if ((type === "q8_0" || type === "q4_0") && shape[1] % 32 !== 0) return "f16"; // llama.cpp's fallback for odd rows
  if (type === "q4_0" && isOutput) return "q8_0";
  return type;
}

/** Encode float32 values in a plain or block dtype. */
export function encodeAs(dtype: DType, f: Float32Array): Uint8Array {
  switch (dtype) {
    case "f32": return new Uint8Array(f.buffer.slice(f.byteOffset, f.byteOffset + f.byteLength));
    case "f16": case "bf16": {
      const out = new Uint16Array(f.length);
      const conv = dtype === "f16" ? f32ToF16 : f32ToBf16;
      for (let i = 0; i < f.length; i++) out[i] = conv(f[i]);
      return new Uint8Array(out.buffer);
    }
    case "q8_0": case "q4_0": return quantize(dtype, f);
  }
}

/**
 * Convert every tensor to the weight type `type` with llama.cpp's per-tensor rules (norms F32; q4_0 keeps
 * the output/embedding matrix at Q8_0). Tensors already in their target dtype are kept as they are.
 * The result feeds modelFromTensors or writeGguf (models/load.ts openCheckpoint uses it for `--dtype`).
 */
export function quantizeTensors(tensors: Map<string, StoredTensor>, type: WeightType): Map<string, StoredTensor> {
  if (!WEIGHT_TYPES.includes(type)) throw new CheckpointError(`unknown weight type "${type}" (expected one of ${WEIGHT_TYPES.join(", ")})`);
  const tied = !tensors.has("lm_head.weight");
  const out = new Map<string, StoredTensor>();
  for (const [name, t] of tensors) {
    const dtype = targetDtype(name, t.shape, type, tied);
    if (dtype === t.dtype) { out.set(name, t); continue; }
    out.set(name, { name: t.name, dtype, shape: t.shape.slice(), data: encodeAs(dtype, storedToFloat32(t)) });
  }
  return out;
}
