// LoRA / DoRA applied to OpenELM's Linear layers, unmerged: the base weights stay as loaded, so one base serves
// several adapters (OpenELMModel.withAdapter), and merging (mergedWeight) is the same formula written into W.
// References: PEFT peft/tuners/lora/layer.py (Linear.forward), peft/tuners/lora/dora.py (DoraLinearLayer);
// DoRA paper (Liu et al. 2024) §4.3 for the detached norm.
//
//   LoRA  y = W x + s · B (A x)                                  A (r, in), B (out, r), s = scaling
//   DoRA  y = (m / n) ⊙ (W x + s · B (A x))                      m (out), n = ‖W + s·B·A‖₂ per output row (over in)
//
// n depends only on the weights, so at inference it is computed once per adapter (PEFT recomputes it in every
// forward, detached; the value is the same). Shapes: T tokens, r rank, out/in the wrapped Linear's features.

import type { Backend, Matrix } from "../kernels/backend.js";
import { adapterSettings, LORA_TARGETS, newAdapterConfig, readPeftAdapter, targetShape, type AdapterOptions, type LoraModule,
  type LoraTarget, type PeftAdapter } from "../io/peft_adapter.js";
import type { Rng } from "../tensor/rng.js";
import { InputError } from "../errors.js";
import type { OpenELMConfig } from "./config.js";
import type { OpenELMModel } from "./openelm.js";
import type { StoredTensor } from "../tensor/tensor.js";

/** One adapted Linear, ready for a backend: A and s·B as backend matrices, DoRA's m / n per output row. */
export interface AttachedModule {
  A: Matrix;   // (r, in)
  sB: Matrix;  // (out, r): B already multiplied by the scaling
  /** (out): m / ‖W + s·B·A‖_row for DoRA; null for LoRA. */
  rowScale: Float32Array | null;
}

/** An adapter attached to one model's backend; pass it to OpenELMModel.withAdapter. */
export interface AttachedAdapter {
  readonly name: string;
  readonly adapter: PeftAdapter;
  readonly layers: Array<Partial<Record<LoraTarget, AttachedModule>>>;
  /** Scratch (T, r) and (T, out) for up to `cap` tokens, grown on demand. */
  scratch: { cap: number; ax: Float32Array; bax: Float32Array } | null;
}

/** Reads the widened float32 rows [r0, r0 + n) of a base Linear into out (n · in floats). */
export type RowReader = (r0: number, n: number, out: Float32Array) => void;

/** One staging buffer per backend for backendRows (a WASM backend's memory is bump-allocated, never freed). */
const staging = new WeakMap<Backend, Float32Array>();
const STAGE_FLOATS = 1 << 16;

/** Row reader over a backend matrix (through embed, which widens or dequantizes any stored dtype). */
export function backendRows(be: Backend, w: Matrix): RowReader {
  return (r0, n, out) => {
    let st = staging.get(be);
    if (!st || st.length < w.cols) { st = be.alloc(Math.max(STAGE_FLOATS, w.cols)); staging.set(be, st); }
    const per = Math.floor(st.length / w.cols);
    for (let k = 0; k < n; k += per) {
      const m = Math.min(per, n - k);
      be.embed(st, w, Array.from({ length: m }, (_, j) => r0 + k + j));
      out.set(st.subarray(0, m * w.cols), k * w.cols);
    }
  };
}

/** Visit the rows of W + s·B·A (out rows of in floats, widened to f32) a block at a time; the buffer is reused. */
function forEachMergedRow(m: LoraModule, rows: RowReader, fn: (o: number, row: Float32Array) => void, buf: Float32Array): void {
  const blockRows = Math.max(1, Math.floor(buf.length / m.in));
  for (let r0 = 0; r0 < m.out; r0 += blockRows) {
    const n = Math.min(blockRows, m.out - r0);
    rows(r0, n, buf);
    for (let k = 0; k < n; k++) {
      const o = r0 + k, row = buf.subarray(k * m.in, (k + 1) * m.in);
      for (let j = 0; j < m.r; j++) {
        const b = m.scaling * m.B[o * m.r + j];
        if (b === 0) continue;
        const a = m.A.subarray(j * m.in, (j + 1) * m.in);
        for (let c = 0; c < m.in; c++) row[c] += b * a[c];
      }
      fn(o, row);
    }
  }
}

/** ‖W + s·B·A‖₂ of each output row (out values): DoRA's weight norm, as PEFT's get_weight_norm computes it. */
export function doraWeightNorm(m: LoraModule, rows: RowReader, buf = new Float32Array(Math.max(m.in, 1 << 16))): Float32Array {
  const n = new Float32Array(m.out);
  forEachMergedRow(m, rows, (o, row) => {
    let s = 0;
    for (let c = 0; c < row.length; c++) s += row[c] * row[c];
    n[o] = Math.sqrt(s);
  }, buf);
  return n;
}

/**
 * The merged weight (out, in) of an adapted Linear as float32: W + s·B·A for LoRA, m / ‖W + s·B·A‖_row ⊙ (W + s·B·A)
 * for DoRA (PEFT's merge_and_unload).
 */
export function mergedWeight(m: LoraModule, rows: RowReader): Float32Array {
  const out = new Float32Array(m.out * m.in);
  forEachMergedRow(m, rows, (o, row) => {
    let g = 1;
    if (m.magnitude) {
      let s = 0;
      for (let c = 0; c < row.length; c++) s += row[c] * row[c];
      g = m.magnitude[o] / Math.sqrt(s);
    }
    const dst = out.subarray(o * m.in, (o + 1) * m.in);
    for (let c = 0; c < row.length; c++) dst[c] = g * row[c];
  }, new Float32Array(Math.max(m.in, 1 << 16)));
  return out;
}

function f32Stored(name: string, shape: number[], v: Float32Array) {
  return { name, dtype: "f32" as const, shape, data: new Uint8Array(v.buffer, v.byteOffset, v.byteLength) };
}

/** The base weights an adapter wraps, by layer and target. */
export type BaseLinears = (layer: number, t: LoraTarget) => Matrix;

/**
 * Put an adapter on a backend for a model: A and s·B become backend matrices, and for DoRA the row scales
 * m / ‖W + s·B·A‖ are computed once from the base weights. Throws InputError if the adapter does not fit
 * the model's config (an adapter is validated for a config when read; this guards a mix-up of models).
 */
export function attachAdapter(name: string, adapter: PeftAdapter, config: OpenELMConfig, be: Backend, base: BaseLinears): AttachedAdapter {
  if (adapter.layers.length !== config.num_transformer_layers)
    throw new InputError(`adapter "${name}": made for ${adapter.layers.length} layers, the model has ${config.num_transformer_layers}`);
  const layers = adapter.layers.map((layer, i) => {
    const out: Partial<Record<LoraTarget, AttachedModule>> = {};
    for (const t of LORA_TARGETS) {
      const m = layer[t];
      if (!m) continue;
      const W = base(i, t);
      if (W.rows !== m.out || W.cols !== m.in)
        throw new InputError(`adapter "${name}": layer ${i} ${t} is (${m.out}, ${m.in}), the model's weight is (${W.rows}, ${W.cols})`);
      const sB = new Float32Array(m.B.length);
      for (let k = 0; k < sB.length; k++) sB[k] = m.scaling * m.B[k];
      let rowScale: Float32Array | null = null;
      if (m.magnitude) {
        const n = doraWeightNorm(m, backendRows(be, W));
        rowScale = new Float32Array(m.out);
        for (let o = 0; o < m.out; o++) rowScale[o] = m.magnitude[o] / n[o];
      }
      out[t] = {
        A: be.loadMatrix(f32Stored(`${name}.layers.${i}.${t}.lora_A`, [m.r, m.in], m.A), m.r, m.in),
        sB: be.loadMatrix(f32Stored(`${name}.layers.${i}.${t}.lora_B`, [m.out, m.r], sB), m.out, m.r),
        rowScale,
      };
    }
    return out;
  });
  return { name, adapter, layers, scratch: null };
}

/**
 * out (T, W.rows) = x · Wᵀ, plus the adapter's term when `adapter` adapts layer `layer`'s `target`: the one place
 * where a forward pass applies an adapter (inference's microBatch; training's linear op).
 */
export function linearWithAdapter(be: Backend, out: Float32Array, x: Float32Array, W: Matrix, T: number,
  adapter: AttachedAdapter | null, layer: number, target: LoraTarget): void {
  be.matmul(out, x, W, T);
  const m = adapter?.layers[layer][target];
  if (m) applyAdapterModule(be, adapter!, m, out, x, T, W);
}

/**
 * The ops the adapter term is made of, each returning its output (T rows). Inference runs them on the backend
 * and scratch (in place where it can); training (train/openelm_train.ts) keeps their inputs and records each
 * op's backward rule.
 */
export interface AdapterOps {
  /** PEFT's lora_dropout on the adapter's input (the identity at inference or p = 0). */
  dropout(x: Float32Array): Float32Array;
  /** x (T, M.cols) · Mᵀ. */
  matmul(x: Float32Array, M: Matrix): Float32Array;
  /** y + s · z, both (T, out). */
  addScaled(y: Float32Array, z: Float32Array, s: number): Float32Array;
  /** z ⊙ m / norm on each row: DoRA's magnitude over the (detached) weight norm; norm null: m is already m / norm. */
  magnitude(z: Float32Array, m: Float32Array, norm: Float32Array | null): Float32Array;
}

/** One adapted Linear as the forward takes it: A (r, in), B (out, r), scaling s, DoRA's m and ‖W + s·B·A‖_row. */
export interface AdapterTerm {
  A: Matrix;
  B: Matrix;
  scaling: number;
  /** (out) DoRA's magnitude (or m / norm when norm is null); null for LoRA. */
  magnitude: Float32Array | null;
  /** (out) ‖W + s·B·A‖₂ per output row, a constant (PEFT recomputes it every forward, detached). */
  norm: Float32Array | null;
}

/**
 * The LoRA / DoRA forward (PEFT tuners/lora/layer.py Linear.forward, dora.py DoraLinearLayer.forward): the one
 * place it is written, for inference and training. y = x Wᵀ is already computed from the undropped x.
 *   LoRA  y + s · B A drop(x)
 *   DoRA  y + (g − 1) ⊙ W drop(x) + g ⊙ s · B A drop(x),  g = m / ‖W + s·B·A‖_row
 * (without dropout, DoRA is g ⊙ (y + s · B A x)). W is needed only when dropout is active under DoRA.
 */
export function adapterForward(ops: AdapterOps, y: Float32Array, x: Float32Array, W: Matrix, t: AdapterTerm): Float32Array {
  const xd = ops.dropout(x);
  const lora = ops.matmul(ops.matmul(xd, t.A), t.B); // (T, out)
  if (!t.magnitude) return ops.addScaled(y, lora, t.scaling);
  if (xd === x) return ops.magnitude(ops.addScaled(y, lora, t.scaling), t.magnitude, t.norm);
  const base = ops.matmul(xd, W);
  return ops.addScaled(ops.addScaled(y, base, -1), ops.magnitude(ops.addScaled(base, lora, t.scaling), t.magnitude, t.norm), 1);
}

/** AdapterOps of inference: the backend's matmul into the adapter's scratch, additions and scaling in place on y. */
class InferenceAdapterOps implements AdapterOps {
  private next = 0;
  constructor(private readonly be: Backend, private readonly bufs: Float32Array[], private readonly T: number) {}
  dropout(x: Float32Array): Float32Array { return x; }
  matmul(x: Float32Array, M: Matrix): Float32Array {
    const out = this.bufs[this.next++ % 2];
    this.be.matmul(out, x, M, this.T);
    return out;
  }
  addScaled(y: Float32Array, z: Float32Array, s: number): Float32Array {
    const n = y.length; // exactly (T, out): applyAdapterModule passes that view
    if (s !== 1) for (let i = 0; i < n; i++) z[i] *= s;
    this.be.addInPlace(y, z, n);
    return y;
  }
  magnitude(z: Float32Array, m: Float32Array, norm: Float32Array | null): Float32Array {
    const out = m.length;
    for (let t = 0; t < this.T; t++) {
      const row = z.subarray(t * out, (t + 1) * out);
      for (let o = 0; o < out; o++) row[o] *= norm ? m[o] / norm[o] : m[o];
    }
    return z;
  }
}

/**
 * y (T, out) = W x has been computed; add the adapter's term (adapterForward with s·B folded at attach time
 * and DoRA's m / n precomputed). x (T, in) is the Linear's input.
 */
export function applyAdapterModule(be: Backend, a: AttachedAdapter, m: AttachedModule, y: Float32Array, x: Float32Array, T: number,
  W: Matrix): void {
  const out = m.sB.rows, r = m.A.rows;
  if (!a.scratch || a.scratch.cap < T || a.scratch.ax.length < T * r || a.scratch.bax.length < T * out) {
    let maxR = 0, maxOut = 0;
    for (const l of a.layers) for (const t of LORA_TARGETS) { const mm = l[t]; if (mm) { maxR = Math.max(maxR, mm.A.rows); maxOut = Math.max(maxOut, mm.sB.rows); } }
    a.scratch = { cap: T, ax: be.alloc(T * maxR), bax: be.alloc(T * maxOut) };
  }
  adapterForward(new InferenceAdapterOps(be, [a.scratch.ax, a.scratch.bax], T), y.subarray(0, T * out), x, W,
    { A: m.A, B: m.sB, scaling: 1, magnitude: m.rowScale, norm: null });
}

/**
 * Read a PEFT adapter directory (validated against the model's config) and return the model seen through it,
 * applied unmerged; the base model is unchanged and keeps serving without it. Throws ConfigError /
 * CheckpointError naming the adapter file and field.
 */
export function openAdapter(model: OpenELMModel, dir: string, name = dir): OpenELMModel {
  return model.withAdapter(model.attach(name, readPeftAdapter(dir, model.config)));
}

/** The checkpoint name of the base weight an adapter target wraps in layer i. */
export function baseWeightName(i: number, t: LoraTarget): string {
  return `transformer.layers.${i}.${t === "qkv_proj" || t === "out_proj" ? "attn" : "ffn"}.${t}.weight`;
}

/**
 * Checkpoint tensors with an adapter merged in (PEFT merge_and_unload): each adapted Linear's .data is
 * encode(base, mergedWeight(...)), computed when .data is read (consumers read it once, as with a lazily read
 * checkpoint, so a streaming writer holds one merged matrix at a time); every other tensor is passed through.
 * `toFloat32` widens (or dequantizes) a stored base weight; `encode` turns a merged float32 weight into bytes of the
 * base's dtype (the merged tensor keeps the base's name, dtype and shape, as PEFT merges in place).
 */
export function mergeAdapterTensors(tensors: Map<string, StoredTensor>, adapter: PeftAdapter,
  toFloat32: (t: StoredTensor) => Float32Array, encode: (base: StoredTensor, merged: Float32Array) => Uint8Array): Map<string, StoredTensor> {
  const out = new Map(tensors);
  adapter.layers.forEach((layer, i) => {
    for (const t of LORA_TARGETS) {
      const m = layer[t];
      if (!m) continue;
      const name = baseWeightName(i, t), base = tensors.get(name);
      if (!base) throw new InputError(`merge: the base has no tensor "${name}" for the adapter's layer ${i} ${t}`);
      const merge = (): Uint8Array => {
        const w = toFloat32(base);
        return encode(base, mergedWeight(m, (r0, n, dst) => dst.set(w.subarray(r0 * m.in, (r0 + n) * m.in))));
      };
      out.set(name, { name, dtype: base.dtype, shape: base.shape.slice(), get data() { return merge(); } });
    }
  });
  return out;
}

/**
 * A new adapter in PEFT's initial state (init_lora_weights=True): A ~ U(−1/√in, 1/√in) (kaiming_uniform_ with
 * a = √5), B = 0, so the adapted model starts equal to the base; DoRA's magnitude m = ‖W‖ per output row.
 * `rows(i, t)` reads the base weight of layer i's target t (DoRA only). Draws from `rng` in layer, target order.
 */
export function newPeftAdapter(config: OpenELMConfig, opts: AdapterOptions, rng: Rng, rows?: (i: number, t: LoraTarget) => RowReader): PeftAdapter {
  const cfg = newAdapterConfig(opts);
  const s = adapterSettings(cfg, config);
  if (s.useDora && !rows) throw new InputError("newPeftAdapter: DoRA needs the base weights (rows) for its magnitude");
  const layers = Array.from({ length: config.num_transformer_layers }, (_, i) => {
    const layer: Partial<Record<LoraTarget, LoraModule>> = {};
    for (const t of LORA_TARGETS) {
      const mm = s.module(i, t);
      if (!mm) continue;
      const { out, in: inF } = targetShape(config, i, t);
      const bound = 1 / Math.sqrt(inF);
      const A = new Float32Array(mm.r * inF);
      for (let k = 0; k < A.length; k++) A[k] = (2 * rng.uniform() - 1) * bound;
      const m: LoraModule = { out, in: inF, r: mm.r, alpha: mm.alpha, scaling: mm.scaling, A, B: new Float32Array(out * mm.r), magnitude: null };
      if (s.useDora) m.magnitude = doraWeightNorm(m, rows!(i, t)); // B = 0: ‖W‖
      layer[t] = m;
    }
    return layer;
  });
  return { config: cfg, layers, useDora: s.useDora };
}
