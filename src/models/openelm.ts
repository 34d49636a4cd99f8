// OpenELM: decoder-only transformer with layer-wise scaling (heads and FFN width vary per layer).
// References: HF apple/OpenELM modeling_openelm.py; mlx-lm models/openelm.py.
// Shapes: T tokens in this call, D model_dim, hd head_dim, V vocab; weights keep HF layout (out, in).

import type { Backend, Matrix } from "../kernels/backend.js";
import { InputError } from "../errors.js";
import { RMS_EPS, layerSizes, type LayerSizes, type OpenELMConfig } from "./config.js";
import { KVCache } from "./kv_cache.js";
import { attachAdapter, linearWithAdapter, type AttachedAdapter } from "./adapter.js";
import type { PeftAdapter } from "../io/peft_adapter.js";

/** Field names follow the checkpoint: transformer.layers.{i}.attn.qkv_proj.weight -> qkv_proj. */
export interface LayerWeights {
  attn_norm: Float32Array;
  qkv_proj: Matrix;
  q_norm: Float32Array | null;
  k_norm: Float32Array | null;
  out_proj: Matrix;
  ffn_norm: Float32Array;
  proj_1: Matrix;
  proj_2: Matrix;
}

export interface OpenELMWeights {
  token_embeddings: Matrix;
  layers: LayerWeights[];
  norm: Float32Array;
  /** Present only when share_input_output_layers is false; otherwise logits use token_embeddings. */
  lm_head: Matrix | null;
}

export interface ForwardOptions {
  /** Logits for every position (T, V) instead of the last one only (V). */
  allLogits?: boolean;
}

/** Work buffers for up to `cap` tokens a micro-batch. */
interface Work { cap: number; x: Float32Array; h: Float32Array; qkv: Float32Array; attn: Float32Array;
  gu: Float32Array; ff: Float32Array; tmp: Float32Array }

/**
 * Tokens a micro-batch: longer calls run in slices of this many (llama.cpp's ubatch), so activation
 * buffers stay ~25 MB for OpenELM-270M however long the prompt; the kernels' token tiles (16) fit many times.
 */
export const MICRO_BATCH = 128;

export class OpenELMModel {
  readonly sizes: LayerSizes[];
  /** Work and logits buffers, shared with adapter views (forward is synchronous, so uses never overlap). */
  private shared: { work: Work | null; logits: Float32Array | null } = { work: null, logits: null };
  private get work(): Work | null { return this.shared.work; }
  private set work(w: Work | null) { this.shared.work = w; }
  private get logits(): Float32Array | null { return this.shared.logits; }
  private set logits(l: Float32Array | null) { this.shared.logits = l; }
  /** The LoRA / DoRA adapter this view applies unmerged (models/adapter.ts), or null for the base model. */
  readonly adapter: AttachedAdapter | null = null;

  constructor(readonly config: OpenELMConfig, readonly weights: OpenELMWeights, readonly backend: Backend) {
    this.sizes = config.num_query_heads.map((_, i) => layerSizes(config, i));
  }

  /** Put a PEFT adapter on this model's backend (DoRA's norms are computed here, once); then use withAdapter. */
  attach(name: string, adapter: PeftAdapter): AttachedAdapter {
    // The DoRA column scale and LoRA's scratch rows are applied on host memory, which a device backend does not share.
    if (this.backend.read) throw new InputError(`adapter "${name}": not supported on the ${this.backend.name} backend yet; use the wasm or ref backend`);
    return attachAdapter(name, adapter, this.config, this.backend, (i, t) => this.weights.layers[i][t]);
  }

  /**
   * The same base weights with an adapter applied unmerged at run time (null: the base itself). Views share
   * weights, backend and work buffers; each keeps its own KV caches (a cache holds one adapter's keys).
   */
  withAdapter(adapter: AttachedAdapter | null): OpenELMModel {
    const m = new OpenELMModel(this.config, this.weights, this.backend);
    m.shared = this.shared;
    (m as { adapter: AttachedAdapter | null }).adapter = adapter;
    return m;
  }

  /** A fresh KV cache holding up to maxLen positions (default: max_context_length). */
  newCache(maxLen = this.config.max_context_length): KVCache {
    return new KVCache(this.backend, maxLen, this.sizes.map((s) => s.nKV * this.config.head_dim));
  }

  private ensureWork(T: number): Work {
    const w = this.work;
    if (w && w.cap >= T) return w;
    const { model_dim: D, head_dim: hd } = this.config;
    const maxQKV = Math.max(...this.sizes.map((s) => (s.nQ + 2 * s.nKV) * hd));
    const maxQ = Math.max(...this.sizes.map((s) => s.nQ * hd));
    const maxF = Math.max(...this.sizes.map((s) => s.ffnDim));
    const be = this.backend;
    this.work = { cap: T, x: be.alloc(T * D), h: be.alloc(T * D), qkv: be.alloc(T * maxQKV), attn: be.alloc(T * maxQ),
      gu: be.alloc(T * 2 * maxF), ff: be.alloc(T * maxF), tmp: be.alloc(T * D) };
    return this.work;
  }

  private ensureLogits(rows: number): Float32Array {
    const n = rows * this.config.vocab_size;
    if (!this.logits || this.logits.length < n) this.logits = this.backend.alloc(n);
    return this.logits;
  }

  /**
   * Run `ids` at positions cache.length … cache.length+T-1, append their keys/values to the cache and
   * return logits: (T, V) row-major with allLogits, else the last position's V values. The returned array
   * is a view of a work buffer, valid until the next forward call (copy it to keep it).
   * Throws InputError for ids outside the vocabulary or when the cache would pass its maxLen, and on a
   * device backend (WebGPU), whose logits only forwardAsync can read back.
   */
  forward(ids: ArrayLike<number>, cache: KVCache, opts: ForwardOptions = {}): Float32Array {
    if (this.backend.read)
      throw new InputError(`forward: the ${this.backend.name} backend computes on a device; use forwardAsync, which reads the logits back`);
    return this.run(ids, cache, opts);
  }

  /** forward() for every backend: on a device backend, queues the step and resolves once the logits are read back. */
  async forwardAsync(ids: ArrayLike<number>, cache: KVCache, opts: ForwardOptions = {}): Promise<Float32Array> {
    const logits = this.run(ids, cache, opts);
    await this.backend.read?.(logits);
    return logits;
  }

  private run(ids: ArrayLike<number>, cache: KVCache, opts: ForwardOptions): Float32Array {
    const T = ids.length, V = this.config.vocab_size;
    if (T === 0) throw new InputError("forward: no tokens given");
    for (let t = 0; t < T; t++)
      if (!Number.isInteger(ids[t]) || ids[t] < 0 || ids[t] >= V)
        throw new InputError(`token id ${ids[t]} at position ${t} is out of range: the vocabulary has ids 0 … ${V - 1}`);
    const pos0 = cache.length;
    if (pos0 + T > cache.maxLen)
      throw new InputError(`${pos0 + T} tokens exceed the context of ${cache.maxLen} (max_context_length); shorten the prompt or lower max new tokens`);
    const logitRows = opts.allLogits ? T : 1;
    const logits = this.ensureLogits(logitRows).subarray(0, logitRows * V);
    const UB = Math.min(T, MICRO_BATCH);
    this.ensureWork(UB);
    for (let s = 0; s < T; s += UB) {
      const e = Math.min(T, s + UB);
      // logits for every row of the slice (allLogits) or for the call's last token only
      const out = opts.allLogits ? logits.subarray(s * V, e * V) : e === T ? logits : null;
      this.microBatch(ids, s, e, cache, out);
    }
    return logits;
  }

  /** ids[s … e) at positions cache.length …; writes logits of all e − s rows, or of the last row, to out. */
  private microBatch(ids: ArrayLike<number>, s: number, e: number, cache: KVCache, out: Float32Array | null): void {
    const c = this.config, be = this.backend;
    const T = e - s, D = c.model_dim, V = c.vocab_size;
    const pos0 = cache.length;
    const w = this.work!;
    const slice = s === 0 && e === ids.length ? ids : Array.from({ length: T }, (_, t) => ids[s + t]); // decode: no copy

    be.embed(w.x, this.weights.token_embeddings, slice); // (T, D), no scaling
    const ops = new CachedOps(this, w, cache, T, pos0);
    for (let i = 0; i < this.sizes.length; i++) {
      ops.layer = i;
      layer(ops, w.x, this.weights.layers[i]);
    }
    cache.length = pos0 + T;
    for (let t = 0; t < T; t++) cache.tokens[pos0 + t] = slice[t];
    if (!out) return;
    const logitRows = out.length / V, first = T - logitRows;               // rows that need logits
    ops.rows = logitRows;
    ops.logits = out;
    head(ops, w.x.subarray(first * D, T * D), this.weights);
  }
}

/** The output projection of a model: lm_head, or the token embeddings when they are shared. */
export function outputProjection(w: OpenELMWeights): Matrix {
  return w.lm_head ?? w.token_embeddings;
}

/**
 * The ops an OpenELM layer is made of, each returning its output (T rows). Inference runs them on work
 * buffers and the KV cache; training (train/openelm_train.ts) runs them on saved activations and records
 * each op's backward rule.
 */
export interface LayerOps {
  /** rmsnorm(x) · w over D. */
  rmsnorm(x: Float32Array, w: Float32Array): Float32Array;
  /** x · Wᵀ, W in (out, in) layout; name: the checkpoint module (adapters attach by it). */
  linear(x: Float32Array, W: Matrix, name: LinearName): Float32Array;
  /** Per-head RMSNorm of queries and keys (weights null: none), then RoPE, on the fused (T, S) rows. */
  qkNormRope(qkv: Float32Array, qNorm: Float32Array | null, kNorm: Float32Array | null): Float32Array;
  /** Causal GQA attention of the roped qkv rows: (T, nQ hd). */
  attention(qkv: Float32Array): Float32Array;
  /** silu(gate) · up of gu (T, 2F) = [gate | up]: (T, F). */
  swiglu(gu: Float32Array): Float32Array;
  /** x + y (inference adds into x). */
  residual(x: Float32Array, y: Float32Array): Float32Array;
}

/** The linear modules by their checkpoint names. */
export type LinearName = "qkv_proj" | "out_proj" | "proj_1" | "proj_2" | "lm_head";

/** One transformer layer (HF OpenELMDecoderLayer): pre-norm attention and SwiGLU FFN, each with a residual. */
export function layer(ops: LayerOps, x: Float32Array, L: LayerWeights): Float32Array {
  const qkv = ops.qkNormRope(ops.linear(ops.rmsnorm(x, L.attn_norm), L.qkv_proj, "qkv_proj"), L.q_norm, L.k_norm); // (T, S) = [q | k | v]
  const h = ops.residual(x, ops.linear(ops.attention(qkv), L.out_proj, "out_proj"));                              // (T, D)
  const ff = ops.swiglu(ops.linear(ops.rmsnorm(h, L.ffn_norm), L.proj_1, "proj_1"));                             // (T, F)
  return ops.residual(h, ops.linear(ff, L.proj_2, "proj_2"));                                                    // (T, D)
}

/** Final norm and the output projection: logits (T, V). */
export function head(ops: LayerOps, x: Float32Array, w: OpenELMWeights): Float32Array {
  return ops.linear(ops.rmsnorm(x, w.norm), outputProjection(w), "lm_head");
}

/** LayerOps of inference: the work buffers, keys and values appended to the cache, residuals added in place. */
class CachedOps implements LayerOps {
  layer = 0;
  /** Rows of the current call (the head may take only the last rows). */
  rows: number;
  logits: Float32Array | null = null;
  constructor(private readonly m: OpenELMModel, private readonly w: Work, private readonly cache: KVCache,
    private readonly T: number, private readonly pos0: number) { this.rows = T; }

  rmsnorm(x: Float32Array, w: Float32Array): Float32Array {
    this.m.backend.rmsnorm(this.w.h, x, w, this.rows, this.m.config.model_dim, RMS_EPS);
    return this.w.h;
  }
  linear(x: Float32Array, W: Matrix, name: LinearName): Float32Array {
    const w = this.w;
    const out = name === "qkv_proj" ? w.qkv : name === "proj_1" ? w.gu : name === "lm_head" ? this.logits! : w.tmp;
    if (name === "lm_head") this.m.backend.matmul(out, x, W, this.rows);
    else linearWithAdapter(this.m.backend, out, x, W, this.rows, this.m.adapter, this.layer, name);
    return out;
  }
  qkNormRope(qkv: Float32Array, qNorm: Float32Array | null, kNorm: Float32Array | null): Float32Array {
    const { nQ, nKV } = this.m.sizes[this.layer], c = this.m.config;
    this.m.backend.qkNormRope(qkv, this.T, nQ, nKV, c.head_dim, qNorm, kNorm, RMS_EPS, this.pos0, c.rope_freq_constant);
    return qkv;
  }
  attention(qkv: Float32Array): Float32Array {
    const { nQ, nKV } = this.m.sizes[this.layer], hd = this.m.config.head_dim, T = this.T, pos0 = this.pos0;
    const qkvW = (nQ + 2 * nKV) * hd, kvW = nKV * hd, kc = this.cache.k[this.layer], vc = this.cache.v[this.layer];
    const be = this.m.backend;
    be.copyRows(kc.subarray(pos0 * kvW), kvW, qkv.subarray(nQ * hd), qkvW, T, kvW);       // keys after RoPE
    be.copyRows(vc.subarray(pos0 * kvW), kvW, qkv.subarray(nQ * hd + kvW), qkvW, T, kvW);
    this.m.backend.attention(this.w.attn, qkv, qkvW, kc, vc, T, pos0, nQ, nKV, hd); // (T, nQ hd)
    return this.w.attn;
  }
  swiglu(gu: Float32Array): Float32Array {
    this.m.backend.swiglu(this.w.ff, gu, this.T, this.m.sizes[this.layer].ffnDim);
    return this.w.ff;
  }
  residual(x: Float32Array, y: Float32Array): Float32Array {
    this.m.backend.addInPlace(x, y, this.T * this.m.config.model_dim);
    return x;
  }
}