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
    // Micro-batches of at most MICRO_BATCH rows, filled in entry order (a long entry spans several); their
    // logit rows come out in that order too, so each micro-batch writes the next rows of `logits`.
    const UB = Math.min(total, MICRO_BATCH);
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
    const T = rows, D = c.model_dim, hd = c.head_dim, V = c.vocab_size;
    const { x, h, qkv, attn, gu, ff, tmp } = this.work!;
    const one = segs.length === 1 && segs[0].s === 0 && segs[0].e === segs[0].en.ids.length;
    const ids: ArrayLike<number> = one ? segs[0].en.ids : segs.flatMap((g) => Array.from({ length: g.e - g.s }, (_, t) => g.en.ids[g.s + t]));

    be.embed(x, this.weights.token_embeddings, ids); // (T, D), no scaling
    for (let i = 0; i < this.sizes.length; i++) {
      const { nQ, nKV, ffnDim: F } = this.sizes[i];
      const L = this.weights.layers[i];
      const qkvW = (nQ + 2 * nKV) * hd, kvW = nKV * hd;
      be.rmsnorm(h, x, L.attn_norm, T, D, RMS_EPS);
      linearWithAdapter(be, qkv, h, L.qkv_proj, T, this.adapter, i, "qkv_proj"); // (T, (nQ + 2 nKV) hd) = [q | k | v]
      for (const g of segs) {                                             // per sequence: its positions and cache
        const n = g.e - g.s, pos0 = g.en.cache.length, kc = g.en.cache.k[i], vc = g.en.cache.v[i];
        const q = one ? qkv : qkv.subarray(g.row * qkvW);
        be.qkNormRope(q, n, nQ, nKV, hd, L.q_norm, L.k_norm, RMS_EPS, pos0, c.rope_freq_constant);
        const o = g.row * qkvW + nQ * hd;
        be.copyRows(kc.subarray(pos0 * kvW), kvW, qkv.subarray(o), qkvW, n, kvW);         // keys after RoPE
        be.copyRows(vc.subarray(pos0 * kvW), kvW, qkv.subarray(o + kvW), qkvW, n, kvW);
        be.attention(one ? attn : attn.subarray(g.row * nQ * hd), q, qkvW, kc, vc, n, pos0, nQ, nKV, hd); // (n, nQ hd)
      }
      linearWithAdapter(be, tmp, attn, L.out_proj, T, this.adapter, i, "out_proj");
      be.addInPlace(x, tmp, T * D);
      be.rmsnorm(h, x, L.ffn_norm, T, D, RMS_EPS);
      linearWithAdapter(be, gu, h, L.proj_1, T, this.adapter, i, "proj_1"); // (T, 2F) = [gate | up]
      be.swiglu(ff, gu, T, F);
      linearWithAdapter(be, tmp, ff, L.proj_2, T, this.adapter, i, "proj_2");
      be.addInPlace(x, tmp, T * D);
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
      be.copyRows(h.subarray(n * D), D, x.subarray(r0 * D), D, g.row + len - r0, D);
      n += g.row + len - r0;
    }
    if (n === 0) return 0;
    be.rmsnorm(h, h, this.weights.norm, n, D, RMS_EPS);
    be.matmul(out, h, this.weights.lm_head ?? this.weights.token_embeddings, n);
    return n;
  }
}
