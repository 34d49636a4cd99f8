// The trainable parameters of an OpenELM as one flat float32 array (plus a gradient array of the same
// layout), with a view per checkpoint tensor. Names and shapes are the checkpoint's (models/load.ts
// expectedShapes), so gradients, optimizer moments and checkpoints line up by name.
// Flat storage keeps AdamW, clipping and the global norm single loops, as llm.c's params_memory.

import { CheckpointError } from "../errors.js";
import type { OpenELMConfig } from "../models/config.js";
import { initTensor } from "../models/init.js";
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
  return layoutOf(expectedShapes(c), frozen);
}

/** The flat layout of named tensors, in the order given (an adapter's tensors, or a checkpoint's). */
export function layoutOf(tensors: Iterable<[string, number[]]>, frozen: (name: string) => boolean = () => false): ParamLayout {
  const infos: ParamInfo[] = [];
  const byName = new Map<string, ParamInfo>();
  let offset = 0;
  for (const [name, shape] of tensors) {
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

/** The initial weights (models/init.ts initStd, CoreNet's rule), drawn from rng in layout order. */
export function initParams(layout: ParamLayout, flat: Float32Array, c: OpenELMConfig, rng: Rng): void {
  for (const p of layout.infos) initTensor(flat.subarray(p.offset, p.offset + p.size), c, p.name, p.shape, rng);
}
