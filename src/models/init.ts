// Random-weight checkpoints in the exact published layout, for benchmarks and tests without downloads.
// Initialisation follows HF OpenELMPreTrainedModel._init_weights in spirit: linear ~ N(0, 1/in_features)
// (out_proj and proj_2 scaled by 1/sqrt(2L)), embeddings ~ N(0, 1/D), RMSNorm weights 1.

import * as fs from "node:fs";
import * as path from "node:path";
import { Rng } from "../tensor/rng.js";
import { f32ToBf16, type StoredTensor } from "../tensor/tensor.js";
import { writeFileAtomic } from "../io/atomic_write.js";
import { writeSafetensorsStreaming } from "../io/safetensors.js";
import { configToJson, type OpenELMConfig } from "./config.js";
import { expectedShapes } from "./load.js";

export type InitDType = "f32" | "bf16";

/** Standard normal draws (Box-Muller) from the seeded generator. */
function gaussian(rng: Rng): () => number {
  let spare: number | null = null;
  return () => {
    if (spare !== null) { const s = spare; spare = null; return s; }
    const u = 1 - rng.next(), v = rng.next();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

/** One tensor's random values for a given config (deterministic from the seed and the tensor name). */
export function randomTensor(c: OpenELMConfig, name: string, shape: number[], dtype: InitDType, seed: number): StoredTensor {
  let h = seed >>> 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  const g = gaussian(new Rng(h));
  const n = shape.reduce((a, b) => a * b, 1);
  let std = 0;
  if (shape.length === 2) {
    std = name.includes("token_embeddings") || name === "lm_head.weight" ? 1 / Math.sqrt(c.model_dim) : 1 / Math.sqrt(shape[1]);
    if (name.endsWith("out_proj.weight") || name.endsWith("proj_2.weight")) std /= Math.sqrt(2 * c.num_transformer_layers);
  }
  const f = new Float32Array(n);
  if (std === 0) f.fill(1);
  else for (let i = 0; i < n; i++) f[i] = g() * std;
  if (dtype === "f32") return { name, dtype, shape, data: new Uint8Array(f.buffer) };
  const b = new Uint16Array(n);
  for (let i = 0; i < n; i++) b[i] = f32ToBf16(f[i]);
  return { name, dtype, shape, data: new Uint8Array(b.buffer) };
}

/** Shard size like HF's save_pretrained default max_shard_size="5GB". */
const SHARD_BYTES = 5e9;

/** Write config.json, generation_config.json and random weights (sharded with an index above 5 GB) into dir. */
export function initCheckpoint(c: OpenELMConfig, dir: string, dtype: InitDType, seed: number): { files: string[]; bytes: number } {
  fs.mkdirSync(dir, { recursive: true });
  const torch = dtype === "f32" ? "float32" : "bfloat16";
  writeFileAtomic(path.join(dir, "config.json"), configToJson({ ...c, torch_dtype: torch, extra: { ...c.extra, torch_dtype: torch } }));
  writeFileAtomic(path.join(dir, "generation_config.json"),
    JSON.stringify({ _from_model_config: true, bos_token_id: c.bos_token_id, eos_token_id: c.eos_token_id, transformers_version: "4.39.3" }, null, 2) + "\n");
  const specs = [...expectedShapes(c)].map(([name, shape]) => ({ name, shape, dtype, bytes: shape.reduce((a, b) => a * b, 1) * (dtype === "f32" ? 4 : 2) }));
  specs.sort((a, b) => (a.name < b.name ? -1 : 1));
  const total = specs.reduce((a, s) => a + s.bytes, 0);
  const shards: typeof specs[] = [[]];
  let size = 0;
  for (const s of specs) {
    if (size > 0 && size + s.bytes > SHARD_BYTES) { shards.push([]); size = 0; }
    shards[shards.length - 1].push(s); size += s.bytes;
  }
  const files: string[] = [];
  const weightMap: Record<string, string> = {};
  shards.forEach((list, k) => {
    const file = shards.length === 1 ? "model.safetensors" : `model-${String(k + 1).padStart(5, "0")}-of-${String(shards.length).padStart(5, "0")}.safetensors`;
    writeSafetensorsStreaming(path.join(dir, file), list, (s) => randomTensor(c, s.name, s.shape, dtype, seed).data);
    for (const s of list) weightMap[s.name] = file;
    files.push(file);
  });
  if (shards.length > 1)
    writeFileAtomic(path.join(dir, "model.safetensors.index.json"), JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2) + "\n");
  return { files, bytes: total };
}
