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

/** One sequence of a batched forward: its new tokens, its cache, and which logits it needs. */
export interface BatchEntry {
  ids: ArrayLike<number>;
  cache: KVCache;
  /** "last": the last position's row (V); "all": every position (T, V); "none": no logits (a prefill chunk). */
  logits: "last" | "all" | "none";
}

/** Rows [s, e) of an entry's tokens at rows row … of a micro-batch. */
interface Segment { en: BatchEntry; s: number; e: number; row: number }

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
    return this.forwardBatch([{ ids, cache, logits: opts.allLogits ? "all" : "last" }])[0];
  }

  /** forward() for every backend: on a device backend, queues the step and resolves to the logits read back. */
  async forwardAsync(ids: ArrayLike<number>, cache: KVCache, opts: ForwardOptions = {}): Promise<Float32Array> {
    return (await this.forwardBatchAsync([{ ids, cache, logits: opts.allLogits ? "all" : "last" }]))[0];
  }

  /**
   * forwardBatch() for every backend: on a device backend, resolves to the logits read back, as views of
   * one new array (so steps in flight on one model, e.g. two adapter views, never see each other's rows).
   */
  async forwardBatchAsync(entries: BatchEntry[]): Promise<Float32Array[]> {
    const out = this.run(entries);
    if (!this.backend.read || out.length === 0) return out;
    const all = await this.backend.read(this.logits!.subarray(0, out.reduce((a, o) => a + o.length, 0)));
    let at = 0;
    return out.map((o) => all.subarray(at, (at += o.length)));  // out's views are consecutive rows from 0
  }

  /**
   * Several sequences in one pass, each with its own cache and position: their tokens are stacked into
   * one (ΣT, D) activation, so every weight is read once for the whole batch, while RoPE, the cache
   * writes and attention run per sequence. Returns per entry its logits ((T, V) for "all", V for "last",
   * empty for "none"), views of one work buffer valid until the next forward call.
   */
  forwardBatch(entries: BatchEntry[]): Float32Array[] {
    if (this.backend.read)
      throw new InputError(`forward: the ${this.backend.name} backend computes on a device; use forwardAsync, which reads the logits back`);
    return this.run(entries);
  }

  private run(entries: BatchEntry[]): Float32Array[] {
    const V = this.config.vocab_size;
    let total = 0, logitRows = 0;
    entries.forEach((en, i) => {
      const T = en.ids.length;
      if (T === 0) throw new InputError(`forward: no tokens given${entries.length > 1 ? ` for sequence ${i}` : ""}`);
      for (let t = 0; t < T; t++)
        if (!Number.isInteger(en.ids[t]) || en.ids[t] < 0 || en.ids[t] >= V)
          throw new InputError(`token id ${en.ids[t]} at position ${t} is out of range: the vocabulary has ids 0 … ${V - 1}`);
      if (en.cache.length + T > en.cache.maxLen)
        throw new InputError(`${en.cache.length + T} tokens exceed the context of ${en.cache.maxLen} (max_context_length); shorten the prompt or lower max new tokens`);
      if (entries.indexOf(entries.find((o) => o.cache === en.cache)!) !== i) throw new InputError(`forwardBatch: sequence ${i} shares its cache with another`);
      total += T;
      logitRows += en.logits === "all" ? T : en.logits === "last" ? 1 : 0;
    });
    const logits = this.ensureLogits(Math.max(1, logitRows));
    const out: Float32Array[] = [];
    let row = 0;
    for (const en of entries) {
      const n = en.logits === "all" ? en.ids.length : en.logits === "last" ? 1 : 0;
      out.push(logits.subarray(row * V, (row + n) * V));
      row += n;
    }
    // Micro-batches of at most MICRO_BATCH rows (or the backend's microBatch), filled in entry order (a long
    // entry spans several); their logit rows come out in that order too, so each writes the next rows of `logits`.
    const UB = Math.min(total, this.backend.microBatch ?? MICRO_BATCH);
    this.ensureWork(UB);
    let e = 0, s = 0, lrow = 0;
    while (e < entries.length) {
      const segs: Segment[] = [];
      let rows = 0;
      while (e < entries.length && rows < UB) {
        const en = entries[e], T = en.ids.length;
        const end = Math.min(T, s + (UB - rows));
        segs.push({ en, s, e: end, row: rows });
        rows += end - s;
        if (end === T) { e++; s = 0; } else s = end;
      }
      lrow += this.microBatch(segs, rows, logits.subarray(lrow * V));
    }
    return out;
  }

  /** One micro-batch of segments stacked into `rows` rows; writes the logit rows it owes to out; returns their count. */
  private microBatch(segs: Segment[], rows: number, out: Float32Array): number {
    const c = this.config, be = this.backend;
    const T = rows, D = c.model_dim;
    const w = this.work!;
    const one = segs.length === 1 && segs[0].s === 0 && segs[0].e === segs[0].en.ids.length;
    const ids: ArrayLike<number> = one ? segs[0].en.ids : segs.flatMap((g) => Array.from({ length: g.e - g.s }, (_, t) => g.en.ids[g.s + t]));

    be.embed(w.x, this.weights.token_embeddings, ids); // (T, D), no scaling
    const ops = new CachedOps(this, w, segs, T, one);
    for (let i = 0; i < this.sizes.length; i++) {
      ops.layer = i;
      layer(ops, w.x, this.weights.layers[i]);
    }
    // Rows that need logits, gathered into h (free now): every row of an "all" segment, and the last row
    // of a sequence's final segment for "last".
    let n = 0;
    for (const g of segs) {
      const cache = g.en.cache, pos0 = cache.length, len = g.e - g.s;
      for (let t = 0; t < len; t++) cache.tokens[pos0 + t] = g.en.ids[g.s + t];
      cache.length = pos0 + len;
      const r0 = g.en.logits === "all" ? g.row : g.en.logits === "last" && g.e === g.en.ids.length ? g.row + len - 1 : -1;
      if (r0 < 0) continue;
      be.copyRows(w.h.subarray(n * D), D, w.x.subarray(r0 * D), D, g.row + len - r0, D);
      n += g.row + len - r0;
    }
    if (n === 0) return 0;
    ops.rows = n;
    ops.logits = out;
    head(ops, w.h.subarray(0, n * D), this.weights);
    return n;
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

/**
 * LayerOps of inference over a micro-batch of sequence segments stacked into T rows: the matmuls, norms and
 * residuals run on all rows at once (each weight read once); RoPE, the cache writes and attention run per
 * segment, at its sequence's positions and into its own cache (attention in one call for all segments where the
 * backend has attentionBatch).
 */
class CachedOps implements LayerOps {
  layer = 0;
  /** Rows of the current call (the head takes only the rows that need logits). */
  rows: number;
  logits: Float32Array | null = null;
  constructor(private readonly m: OpenELMModel, private readonly w: Work, private readonly segs: Segment[],
    private readonly T: number, private readonly one: boolean) { this.rows = T; }

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
    const { nQ, nKV } = this.m.sizes[this.layer], c = this.m.config, hd = c.head_dim, qkvW = (nQ + 2 * nKV) * hd;
    for (const g of this.segs) {
      const q = this.one ? qkv : qkv.subarray(g.row * qkvW);
      this.m.backend.qkNormRope(q, g.e - g.s, nQ, nKV, hd, qNorm, kNorm, RMS_EPS, g.en.cache.length, c.rope_freq_constant);
    }
    return qkv;
  }
  attention(qkv: Float32Array): Float32Array {
    const { nQ, nKV } = this.m.sizes[this.layer], hd = this.m.config.head_dim, be = this.m.backend;
    const qkvW = (nQ + 2 * nKV) * hd, kvW = nKV * hd, attn = this.w.attn;
    for (const g of this.segs) {                                       // per sequence: its positions and cache
      const n = g.e - g.s, pos0 = g.en.cache.length, kc = g.en.cache.k[this.layer], vc = g.en.cache.v[this.layer];
      const o = g.row * qkvW + nQ * hd;
      be.copyRows(kc.subarray(pos0 * kvW), kvW, qkv.subarray(o), qkvW, n, kvW);         // keys after RoPE
      be.copyRows(vc.subarray(pos0 * kvW), kvW, qkv.subarray(o + kvW), qkvW, n, kvW);
    }
    if (be.attentionBatch && this.segs.length > 1) { // (each sequence reads only its own cache, written above)
      be.attentionBatch(attn, qkv, qkvW, this.segs.map((g) => ({ row: g.row, T: g.e - g.s, pos0: g.en.cache.length,
        kCache: g.en.cache.k[this.layer], vCache: g.en.cache.v[this.layer] })), nQ, nKV, hd);
      return attn;
    }
    for (const g of this.segs) {
      const n = g.e - g.s, pos0 = g.en.cache.length, kc = g.en.cache.k[this.layer], vc = g.en.cache.v[this.layer];
      const q = this.one ? qkv : qkv.subarray(g.row * qkvW);
      be.attention(this.one ? attn : attn.subarray(g.row * nQ * hd), q, qkvW, kc, vc, n, pos0, nQ, nKV, hd); // (n, nQ hd)
    }
    return attn;
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
