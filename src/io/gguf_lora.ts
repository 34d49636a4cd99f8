// LoRA adapters as llama.cpp's LoRA GGUF (what convert_lora_to_gguf.py writes, what `llama-cli --lora` loads):
// general.architecture = openelm, general.type = "adapter", adapter.type = "lora", adapter.lora.alpha (f32);
// tensors "<base GGUF name>.lora_a" (ne [in, r], i.e. PEFT's A (r, in)) and ".lora_b" (ne [r, out], PEFT's B
// (out, r)). llama.cpp scales by alpha / r with r read from each lora_a (src/llama-adapter.cpp).
// OpenELM's proj_1 is two tensors in GGUF (ffn_gate = rows [0, F), ffn_up = rows [F, 2F)): its LoRA becomes the
// same A with B cut the same way, as the converter's LoraTorchTensor slicing does.
// llama.cpp has one alpha per file and no rsLoRA or per-module alpha: a module whose scaling differs from
// alpha / r gets it folded into B (exact). It has no DoRA: those adapters are refused (merge them instead).

import { CheckpointError } from "../errors.js";
import { f32ToBf16, f32ToF16 } from "../tensor/tensor.js";
import type { OpenELMConfig } from "../models/config.js";
import { layerSizes } from "../models/config.js";
import { GgmlType, GgufType, writeGgufFile, type GgufKV, type GgufTensorOut } from "./gguf.js";
import { LORA_TARGETS, type LoraTarget, type PeftAdapter } from "./peft_adapter.js";

export type LoraOutType = "f32" | "f16" | "bf16";

const GGUF_NAME: Record<Exclude<LoraTarget, "proj_1">, string> = { qkv_proj: "attn_qkv", out_proj: "attn_output", proj_2: "ffn_down" };

function encode(v: Float32Array, type: LoraOutType): { type: number; data: Uint8Array } {
  if (type === "f32") return { type: GgmlType.F32, data: new Uint8Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength)) };
  const out = new Uint16Array(v.length), conv = type === "f16" ? f32ToF16 : f32ToBf16;
  for (let i = 0; i < v.length; i++) out[i] = conv(v[i]);
  return { type: type === "f16" ? GgmlType.F16 : GgmlType.BF16, data: new Uint8Array(out.buffer) };
}

/** The adapter's tensors under llama.cpp's names, in layer order (qkv, output, gate, up, down). */
export function loraGgufTensors(adapter: PeftAdapter, c: OpenELMConfig, alpha: number, type: LoraOutType, file = "adapter"): GgufTensorOut[] {
  if (adapter.useDora) throw new CheckpointError(`${file}: a DoRA adapter (use_dora) has no llama.cpp LoRA GGUF form; merge it into the model instead (openelm merge)`);
  const out: GgufTensorOut[] = [];
  const push = (name: string, A: Float32Array, B: Float32Array, r: number, inF: number, outF: number) => {
    const a = encode(A, type), b = encode(B, type);
    out.push({ name: `${name}.lora_a`, type: a.type, ne: [inF, r], data: a.data }, { name: `${name}.lora_b`, type: b.type, ne: [r, outF], data: b.data });
  };
  adapter.layers.forEach((layer, i) => {
    for (const t of LORA_TARGETS) {
      const m = layer[t];
      if (!m) continue;
      // llama.cpp applies alpha / r; fold any other scaling (rsLoRA, alpha_pattern) into B.
      const fold = m.scaling / (alpha / m.r);
      const B = fold === 1 ? m.B : m.B.map((x) => x * fold);
      if (t === "proj_1") {
        const F = layerSizes(c, i).ffnDim;
        push(`blk.${i}.ffn_gate.weight`, m.A, B.subarray(0, F * m.r), m.r, m.in, F);
        push(`blk.${i}.ffn_up.weight`, m.A, B.subarray(F * m.r, 2 * F * m.r), m.r, m.in, F);
      } else push(`blk.${i}.${GGUF_NAME[t]}.weight`, m.A, B, m.r, m.in, m.out);
    }
  });
  return out;
}

/** Write an adapter as llama.cpp's LoRA GGUF (atomically). */
export function writeLoraGguf(path: string, adapter: PeftAdapter, c: OpenELMConfig, opts: { type?: LoraOutType; name?: string } = {}): void {
  const alpha = adapter.config.lora_alpha as number;
  const md: GgufKV[] = [
    { key: "general.architecture", type: GgufType.STRING, value: "openelm" },
    { key: "general.type", type: GgufType.STRING, value: "adapter" },
    { key: "adapter.type", type: GgufType.STRING, value: "lora" },
    { key: "general.name", type: GgufType.STRING, value: opts.name ?? "OpenELM LoRA" },
    { key: "adapter.lora.alpha", type: GgufType.FLOAT32, value: alpha },
    { key: "general.quantization_version", type: GgufType.UINT32, value: 2 },
  ];
  writeGgufFile(path, md, loraGgufTensors(adapter, c, alpha, opts.type ?? "f16", path));
}
