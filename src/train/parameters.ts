// The trainable parameters of an OpenELM as one flat float32 array (plus a gradient array of the same
// layout), with a view per checkpoint tensor. Names and shapes are the checkpoint's (models/load.ts
// expectedShapes), so gradients, optimizer moments and checkpoints line up by name.
// Flat storage keeps AdamW, clipping and the global norm single loops, as llm.c's params_memory.

import { CheckpointError } from "../errors.js";
import type { OpenELMConfig } from "../models/config.js";
import { expectedShapes } from "../models/load.js";
import { numel, toFloat32, type StoredTensor } from "../tensor/tensor.js";
import type { Rng } from "../tensor/rng.js";

export interface ParamInfo {
  name: string;
  shape: number[];
  offset: number;
  size: number;
  /** CoreNet no_decay_bn_filter_bias: 1-D tensors (the RMSNorm weights) get no weight decay. */
  decay: boolean;
  /** False for a frozen tensor (e.g. the base weights under LoRA): no gradient, no update. */
  trainable: boolean;
}

export interface ParamLayout {
  infos: ParamInfo[];
  byName: Map<string, ParamInfo>;
  total: number;
}

/** A zeroed Float32Array on shared memory, so worker threads can read and write it. */
export function sharedFloat32(n: number): Float32Array {
  return new Float32Array(new SharedArrayBuffer(Math.max(1, n) * 4), 0, n);
}

export function paramLayout(c: OpenELMConfig, frozen: (name: string) => boolean = () => false): ParamLayout {
  const infos: ParamInfo[] = [];
  const byName = new Map<string, ParamInfo>();
  let offset = 0;
  for (const [name, shape] of expectedShapes(c)) {
    const info = { name, shape, offset, size: numel(shape), decay: shape.length !== 1, trainable: !frozen(name) };
    infos.push(info);
    byName.set(name, info);
    offset += info.size;
  }
  return { infos, byName, total: offset };
}

/** View of one tensor inside a flat array laid out by `layout`. */
export function paramView(layout: ParamLayout, flat: Float32Array, name: string): Float32Array {
  const p = layout.byName.get(name);
  if (!p) throw new Error(`no parameter ${name}`);
  return flat.subarray(p.offset, p.offset + p.size);
}

/** Copy checkpoint tensors (any float dtype) into the flat array; names and shapes must match exactly. */
export function loadParams(layout: ParamLayout, flat: Float32Array, tensors: Map<string, StoredTensor>, file: string): void {
  for (const p of layout.infos) {
    const t = tensors.get(p.name);
    if (!t) throw new CheckpointError(`${file}: missing tensor "${p.name}" (shape ${JSON.stringify(p.shape)})`);
    if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i]))
      throw new CheckpointError(`${file}: tensor "${p.name}" has shape ${JSON.stringify(t.shape)}, expected ${JSON.stringify(p.shape)}`);
    flat.set(toFloat32(t), p.offset);
  }
}

/** F32 StoredTensors (copies) of every parameter, in layout order. */
export function paramsToTensors(layout: ParamLayout, flat: Float32Array): StoredTensor[] {
  return layout.infos.map((p) => {
    const data = new Uint8Array(p.size * 4);
    new Float32Array(data.buffer).set(flat.subarray(p.offset, p.offset + p.size));
    return { name: p.name, dtype: "f32" as const, shape: p.shape.slice(), data };
  });
}

/**
 * CoreNet's OpenELM initialisation (general_gpt.py reset_parameters): Linear weights N(0, in_features^-½),
 * the embedding N(0, D^-½), norms 1, and out_proj / proj_2 N(0, D^-½ · (2L)^-½) (scaled residual branches).
 */
export function initParams(layout: ParamLayout, flat: Float32Array, c: OpenELMConfig, rng: Rng): void {
  const D = c.model_dim, L = c.num_transformer_layers;
  for (const p of layout.infos) {
    const v = flat.subarray(p.offset, p.offset + p.size);
    if (p.shape.length === 1) { v.fill(1); continue; }
    let std = Math.pow(p.shape[1], -0.5);
    if (p.name === "transformer.token_embeddings.weight" || p.name === "lm_head.weight") std = Math.pow(D, -0.5);
    if (p.name.endsWith("attn.out_proj.weight") || p.name.endsWith("ffn.proj_2.weight"))
      std = Math.pow(D, -0.5) * Math.pow(2 * L, -0.5);
    for (let i = 0; i < v.length; i++) v[i] = rng.normal() * std;
  }
}
