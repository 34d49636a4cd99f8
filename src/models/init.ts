// The one weight-initialisation rule (initStd), and random-weight checkpoints in the exact published layout
// for benchmarks and tests without downloads. The rule is CoreNet's (general_gpt.py reset_parameters), the
// code OpenELM was pre-trained with: Linear weights N(0, in_features^-½), the embedding (and an untied
// lm_head) N(0, D^-½), RMSNorm weights 1, and the residual branches' out_proj / proj_2 N(0, D^-½ · (2L)^-½).

import * as fs from "node:fs";
import * as path from "node:path";
import { Rng } from "../tensor/rng.js";
import { f32ToBf16, type StoredTensor } from "../tensor/tensor.js";
import { writeFileAtomic } from "../io/atomic_write.js";
import { writeSafetensorsStreaming } from "../io/safetensors.js";
import { configToJson, type OpenELMConfig } from "./config.js";
import { expectedShapes } from "./load.js";

export type InitDType = "f32" | "bf16";

/**
 * The standard deviation a checkpoint tensor starts with (shape in HF layout, (out, in) for a Linear);
 * 0 for the 1-D RMSNorm weights, which start at 1.
 */
export function initStd(c: OpenELMConfig, name: string, shape: readonly number[]): number {
  if (shape.length !== 2) return 0;
  const D = c.model_dim;
  if (name.endsWith("out_proj.weight") || name.endsWith("proj_2.weight")) return Math.pow(D, -0.5) * Math.pow(2 * c.num_transformer_layers, -0.5);
  if (name === "transformer.token_embeddings.weight" || name === "lm_head.weight") return Math.pow(D, -0.5);
  return Math.pow(shape[1], -0.5);
}

/** Fill v with the initial values of tensor `name`: normal draws from rng times initStd, or 1 for norms. */
export function initTensor(v: Float32Array, c: OpenELMConfig, name: string, shape: readonly number[], rng: Rng): void {
  const std = initStd(c, name, shape);
  if (std === 0) { v.fill(1); return; }
  for (let i = 0; i < v.length; i++) v[i] = rng.normal() * std;
}

/** One tensor's random values for a given config (deterministic from the seed and the tensor name). */
export function randomTensor(c: OpenELMConfig, name: string, shape: number[], dtype: InitDType, seed: number): StoredTensor {
  let h = seed >>> 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  const n = shape.reduce((a, b) => a * b, 1);
  const f = new Float32Array(n);
  initTensor(f, c, name, shape, new Rng(h));
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
