// Weight type conversion as llama.cpp does it: convert_hf_to_gguf.py --outtype f32|f16|bf16 and
// llama-quantize q8_0|q4_0|q4_k_m|q4_k_s|q5_k_m|q6_k (default options: no importance matrix, no --pure).
// Used by `openelm quantize` and by loading with --dtype.
// References: llama.cpp src/llama-quant.cpp (llama_tensor_get_type, llama_model_quantize_impl),
// convert_hf_to_gguf.py (prepare_tensors).
//
// Per-tensor rules (llama_tensor_get_type, as they apply to OpenELM's tensors):
// - 1-D tensors (every norm weight) stay / become F32.
// - The output matrix (lm_head, or token_embeddings when tied): Q8_0 if its rows are not a multiple of the
//   file type's block size, else Q6_K (Q8_0 stays Q8_0).
// - attn_qkv: Q5_K under Q4_K_M, Q6_K under Q5_K_M. ffn_down (proj_2) of layer i of n: Q6_K under Q4_K_M and
//   Q5_K_M when use_more_bits(i, n), Q5_K under Q4_K_S for the first n/8 layers. Everything else: the base type.
// - A K-quant whose rows (input features) are not a multiple of 256 falls back: Q4_K -> Q5_0, Q5_K -> Q5_1,
//   Q6_K -> Q8_0; a 32-block type whose rows are not a multiple of 32 falls back to F16.

import { CheckpointError } from "../errors.js";
import { f32ToBf16, f32ToF16, QUANT_BLOCKS, type DType, type QuantDType, type StoredTensor } from "../tensor/tensor.js";
import { quantize } from "../kernels/quant.js";
import { FileType, storedToFloat32 } from "./gguf_openelm.js";

export type WeightType = "f32" | "f16" | "bf16" | "q8_0" | "q4_0" | "q4_k_m" | "q4_k_s" | "q5_k_m" | "q6_k";
export const WEIGHT_TYPES: WeightType[] = ["f32", "f16", "bf16", "q8_0", "q4_0", "q4_k_m", "q4_k_s", "q5_k_m", "q6_k"];

/** general.file_type (llama_ftype) of a file quantized to `type`. */
export const FILE_TYPE: Record<WeightType, number> = {
  f32: FileType.ALL_F32, f16: FileType.MOSTLY_F16, bf16: FileType.MOSTLY_BF16, q8_0: FileType.MOSTLY_Q8_0,
  q4_0: FileType.MOSTLY_Q4_0, q4_k_m: FileType.MOSTLY_Q4_K_M, q4_k_s: FileType.MOSTLY_Q4_K_S,
  q5_k_m: FileType.MOSTLY_Q5_K_M, q6_k: FileType.MOSTLY_Q6_K,
};

/** The base (default) tensor type of each quantized file type. */
const BASE: Partial<Record<WeightType, QuantDType>> = { q8_0: "q8_0", q4_0: "q4_0", q4_k_m: "q4_k", q4_k_s: "q4_k", q5_k_m: "q5_k", q6_k: "q6_k" };

const FALLBACK: Partial<Record<QuantDType, QuantDType>> = { q4_k: "q5_0", q5_k: "q5_1", q6_k: "q8_0" };

/** llama-quant.cpp's use_more_bits: the first and last eighth of the layers and every third in between. */
function useMoreBits(i: number, n: number): boolean {
  const e = Math.trunc(n / 8);
  return i < e || i >= Math.trunc((7 * n) / 8) || (i - e) % 3 === 2;
}

/**
 * The dtype llama.cpp gives the HF tensor `name` of this shape when the file type is `type`; nLayers is the
 * model's layer count (ffn_down's layer-dependent rules), tied whether token_embeddings is also the output.
 */
export function targetDtype(name: string, shape: number[], type: WeightType, tied: boolean, nLayers: number): DType {
  if (shape.length !== 2) return "f32";
  const base = BASE[type];
  if (!base) return type as DType;
  const cols = shape[1];
  const isOutput = name === "lm_head.weight" || (tied && name === "transformer.token_embeddings.weight");
  const layer = /^transformer\.layers\.(\d+)\./.exec(name);
  let t: QuantDType = base;
  if (isOutput) t = cols % QUANT_BLOCKS[base][0] !== 0 ? "q8_0" : base === "q8_0" ? "q8_0" : "q6_k";
  else if (layer && name.endsWith(".attn.qkv_proj.weight")) {
    if (type === "q4_k_m") t = "q5_k";
    else if (type === "q5_k_m") t = "q6_k";
  } else if (layer && name.endsWith(".ffn.proj_2.weight")) {
    const i = Number(layer[1]);
    if ((type === "q4_k_m" || type === "q5_k_m") && useMoreBits(i, nLayers)) t = "q6_k";
    else if (type === "q4_k_s" && i < Math.trunc(nLayers / 8)) t = "q5_k";
  }
  if (cols % QUANT_BLOCKS[t][0] !== 0) {
    const fb = FALLBACK[t];
    if (!fb || cols % QUANT_BLOCKS[fb][0] !== 0) return "f16";
    t = fb;
  }
  return t;
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
    default: return quantize(dtype, f);
  }
}

/**
 * Convert every tensor to the weight type `type` with llama.cpp's per-tensor rules (above). Tensors already
 * in their target dtype are kept as they are. The result feeds modelFromTensors or writeGguf
 * (models/load.ts openCheckpoint uses it for `--dtype`).
 */
export function quantizeTensors(tensors: Map<string, StoredTensor>, type: WeightType): Map<string, StoredTensor> {
  if (!WEIGHT_TYPES.includes(type)) throw new CheckpointError(`unknown weight type "${type}" (expected one of ${WEIGHT_TYPES.join(", ")})`);
  const tied = !tensors.has("lm_head.weight");
  let nLayers = 0;
  for (const name of tensors.keys()) {
    const m = /^transformer\.layers\.(\d+)\./.exec(name);
    if (m) nLayers = Math.max(nLayers, Number(m[1]) + 1);
  }
  const out = new Map<string, StoredTensor>();
  for (const [name, t] of tensors) {
    const dtype = targetDtype(name, t.shape, type, tied, nLayers);
    if (dtype === t.dtype) { out.set(name, t); continue; }
    out.set(name, { name: t.name, dtype, shape: t.shape.slice(), data: encodeAs(dtype, storedToFloat32(t)) });
  }
  return out;
}
