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

  /**
   * forward() for every backend: on a device backend, queues the step and resolves to the logits read back
   * (a new array, so concurrent generations on one model cannot overwrite each other's rows).
   */
  async forwardAsync(ids: ArrayLike<number>, cache: KVCache, opts: ForwardOptions = {}): Promise<Float32Array> {
    const logits = this.run(ids, cache, opts);
    return this.backend.read ? this.backend.read(logits) : logits;
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
    const T = e - s, D = c.model_dim, hd = c.head_dim, V = c.vocab_size;
    const pos0 = cache.length;
    const { x, h, qkv, attn, gu, ff, tmp } = this.work!;
    const slice = s === 0 && e === ids.length ? ids : Array.from({ length: T }, (_, t) => ids[s + t]); // decode: no copy

    be.embed(x, this.weights.token_embeddings, slice); // (T, D), no scaling
    for (let i = 0; i < this.sizes.length; i++) {
      const { nQ, nKV, ffnDim: F } = this.sizes[i];
      const L = this.weights.layers[i];
      const qkvW = (nQ + 2 * nKV) * hd;
      be.rmsnorm(h, x, L.attn_norm, T, D, RMS_EPS);
      linearWithAdapter(be, qkv, h, L.qkv_proj, T, this.adapter, i, "qkv_proj"); // (T, (nQ + 2 nKV) hd) = [q | k | v]
      be.qkNormRope(qkv, T, nQ, nKV, hd, L.q_norm, L.k_norm, RMS_EPS, pos0, c.rope_freq_constant);
      const kvW = nKV * hd, kc = cache.k[i], vc = cache.v[i];
      be.copyRows(kc.subarray(pos0 * kvW), kvW, qkv.subarray(nQ * hd), qkvW, T, kvW);       // keys after RoPE
      be.copyRows(vc.subarray(pos0 * kvW), kvW, qkv.subarray(nQ * hd + kvW), qkvW, T, kvW);
      be.attention(attn, qkv, qkvW, kc, vc, T, pos0, nQ, nKV, hd);         // (T, nQ hd)
      linearWithAdapter(be, tmp, attn, L.out_proj, T, this.adapter, i, "out_proj");
      be.addInPlace(x, tmp, T * D);
      be.rmsnorm(h, x, L.ffn_norm, T, D, RMS_EPS);
      linearWithAdapter(be, gu, h, L.proj_1, T, this.adapter, i, "proj_1"); // (T, 2F) = [gate | up]
      be.swiglu(ff, gu, T, F);
      linearWithAdapter(be, tmp, ff, L.proj_2, T, this.adapter, i, "proj_2");
      be.addInPlace(x, tmp, T * D);
    }
    cache.length = pos0 + T;
    for (let t = 0; t < T; t++) cache.tokens[pos0 + t] = slice[t];
    if (!out) return;
    const logitRows = out.length / V, first = T - logitRows;               // rows that need logits
    const xs = x.subarray(first * D, T * D), hs = h.subarray(0, logitRows * D);
    be.rmsnorm(hs, xs, this.weights.norm, logitRows, D, RMS_EPS);
    be.matmul(out, hs, this.weights.lm_head ?? this.weights.token_embeddings, logitRows);
  }
}
