// OpenELM for training: forward with saved activations, then the backward of every op in reverse, into
// gradients named like the checkpoint (llm.c train_gpt2.c gpt2_forward / gpt2_backward, OpenELM's ops).
// Activation memory is planned once per (B, T) shape (llm.c ActivationTensors), never per step.
// Shapes: B batch, T positions, N = B·T, D model_dim, hd head_dim, V vocab; per layer nQ, nKV, F, and
// S = (nQ + 2 nKV)·hd. Weights keep the torch Linear layout (out, in).

import { RMS_EPS, layerSizes, type OpenELMConfig } from "../models/config.js";
import type { StoredTensor } from "../tensor/tensor.js";
import { attentionBackward, attentionBackwardMM, attentionForward, attentionForwardMM, type AttentionKernels, type AttentionScratch } from "./autograd/attention.js";
import { crossEntropyBackward, crossEntropyForward, type LossValues } from "./autograd/cross_entropy.js";
import { embeddingBackward, embeddingForward } from "./autograd/embedding.js";
import { linearBackward, linearForward, NT_MAX_K, OC_CHUNK, serialMatmul, type LinearScratch, type MatmulRunner } from "./autograd/matmul.js";
import { qkNormRopeBackward, qkNormRopeForward, ropeTables, type QKVShape } from "./autograd/qk_norm_rope.js";
import { residualForward } from "./autograd/residual.js";
import { rmsnormBackward, rmsnormForward } from "./autograd/rmsnorm.js";
import { swigluBackward, swigluForward } from "./autograd/swiglu.js";
import { loadParams, paramLayout, paramsToTensors, sharedFloat32, type ParamLayout } from "./parameters.js";

interface LayerTensors {
  attnNorm: Float32Array; qkv: Float32Array; qNorm: Float32Array | null; kNorm: Float32Array | null;
  outProj: Float32Array; ffnNorm: Float32Array; proj1: Float32Array; proj2: Float32Array;
}

interface LayerActs {
  ln1: Float32Array; ln1Rstd: Float32Array; qkv: Float32Array; q: Float32Array; k: Float32Array; v: Float32Array;
  qRstd: Float32Array; kRstd: Float32Array; att: Float32Array; attOut: Float32Array; resid2: Float32Array;
  ln2: Float32Array; ln2Rstd: Float32Array; gu: Float32Array; act: Float32Array;
}

/** Everything sized by (B, T), allocated once by plan(). */
interface Plan {
  B: number; T: number; N: number; checkpointed: boolean;
  ids: Int32Array; targets: Int32Array;
  resid: Float32Array[];           // L + 1 residual streams (N, D): the input of each layer, then the output
  layers: LayerActs[];
  lnf: Float32Array; lnfRstd: Float32Array; logits: Float32Array; lse: Float32Array; tl: Float32Array;
  cos: Float32Array; sin: Float32Array;
  tmp: Float32Array; dresid: Float32Array; dln: Float32Array; dattOut: Float32Array; dqkv: Float32Array;
  dq: Float32Array; dk: Float32Array; dv: Float32Array; dgu: Float32Array; dact: Float32Array;
  scratch: LinearScratch;
  attScratch: AttentionScratch;
}

export interface ForwardResult extends LossValues {}

export class TrainableOpenELM {
  readonly layout: ParamLayout;
  readonly params: Float32Array;
  readonly grads: Float32Array;
  private readonly w: LayerTensors[];
  private readonly g: Array<{ [K in keyof LayerTensors]: Float32Array | null }>;
  private plan: Plan | null = null;
  /** Attention as matmuls when the runner has all three layouts (the SIMD kernels). */
  private readonly attMM: AttentionKernels | null;
  private last: { count: number; zLossCoef: number } | null = null;
  /**
   * Activation checkpointing: keep only each layer's input (the residual stream) through the forward, and
   * recompute a layer's activations just before its backward. All layers then share one set of activation
   * buffers (the attention probabilities, B·nQ·T² floats a layer, dominate at long T) for one extra
   * forward of the transformer layers. Gradients are bit-identical either way. Set before forward().
   */
  checkpointActivations = false;

  /**
   * mm: the kernels (default: plain TS, float64 sums). frozen: names of tensors that get no gradient (their
   * weight gradients are not computed at all; the design the LoRA fine-tuning builds on).
   */
  constructor(readonly config: OpenELMConfig, readonly mm: MatmulRunner = serialMatmul, frozen?: (name: string) => boolean) {
    this.layout = paramLayout(config, frozen);
    this.params = this.alloc(this.layout.total);
    this.grads = this.alloc(this.layout.total);
    this.attMM = mm.nn && mm.tn ? { abt: mm.abt.bind(mm), nn: mm.nn.bind(mm), tn: mm.tn.bind(mm) } : null;
    this.w = this.layerViews(this.params);
    this.g = this.layerViews(this.grads).map((l, i) => {
      const p = `transformer.layers.${i}.`;
      const t = (n: string, v: Float32Array | null) => (v && this.layout.byName.get(p + n)!.trainable ? v : null);
      return { attnNorm: t("attn_norm.weight", l.attnNorm), qkv: t("attn.qkv_proj.weight", l.qkv), qNorm: t("attn.q_norm.weight", l.qNorm),
        kNorm: t("attn.k_norm.weight", l.kNorm), outProj: t("attn.out_proj.weight", l.outProj), ffnNorm: t("ffn_norm.weight", l.ffnNorm),
        proj1: t("ffn.proj_1.weight", l.proj1), proj2: t("ffn.proj_2.weight", l.proj2) };
    });
  }

  private alloc(n: number): Float32Array { return this.mm.alloc ? this.mm.alloc(n) : sharedFloat32(n); }

  /** A model holding the given checkpoint tensors (widened to float32). */
  static fromTensors(config: OpenELMConfig, tensors: Map<string, StoredTensor>, file = "model.safetensors",
    mm?: MatmulRunner): TrainableOpenELM {
    const m = new TrainableOpenELM(config, mm);
    loadParams(m.layout, m.params, tensors, file);
    return m;
  }

  /** The parameters as F32 checkpoint tensors. */
  toTensors(): StoredTensor[] { return paramsToTensors(this.layout, this.params); }

  view(flat: Float32Array, name: string): Float32Array {
    const p = this.layout.byName.get(name)!;
    return flat.subarray(p.offset, p.offset + p.size);
  }

  /** The gradient of a tensor, or null when it is frozen. */
  private gradOf(name: string): Float32Array | null {
    return this.layout.byName.get(name)!.trainable ? this.view(this.grads, name) : null;
  }

  private layerViews(flat: Float32Array): LayerTensors[] {
    const out: LayerTensors[] = [];
    const qk = this.config.normalize_qk_projections;
    for (let i = 0; i < this.config.num_transformer_layers; i++) {
      const p = `transformer.layers.${i}.`;
      out.push({
        attnNorm: this.view(flat, p + "attn_norm.weight"), qkv: this.view(flat, p + "attn.qkv_proj.weight"),
        qNorm: qk ? this.view(flat, p + "attn.q_norm.weight") : null,
        kNorm: qk ? this.view(flat, p + "attn.k_norm.weight") : null,
        outProj: this.view(flat, p + "attn.out_proj.weight"), ffnNorm: this.view(flat, p + "ffn_norm.weight"),
        proj1: this.view(flat, p + "ffn.proj_1.weight"), proj2: this.view(flat, p + "ffn.proj_2.weight"),
      });
    }
    return out;
  }

  private headName(): string {
    return this.config.share_input_output_layers ? "transformer.token_embeddings.weight" : "lm_head.weight";
  }

  private head(flat: Float32Array): Float32Array { return this.view(flat, this.headName()); }

  zeroGrad(): void { this.grads.fill(0); }

  /** Bytes of activation memory planned for a (B, T) batch. */
  activationBytes(): number {
    if (!this.plan) return 0;
    // Arrays may share one memory (the wasm kernels) and, checkpointed, the layers' views alias: count each
    // (buffer, offset) once, at its largest view.
    const p = this.plan, seen = new Map<ArrayBufferLike, Map<number, number>>();
    const add = (a: Float32Array) => {
      let m = seen.get(a.buffer);
      if (!m) seen.set(a.buffer, m = new Map());
      m.set(a.byteOffset, Math.max(m.get(a.byteOffset) ?? 0, a.byteLength));
    };
    for (const a of [...p.resid, p.lnf, p.lnfRstd, p.logits, p.lse, p.tmp, p.dresid, p.dln, p.dattOut, p.dqkv, p.dq, p.dk, p.dv, p.dgu, p.dact]) add(a);
    for (const l of p.layers) for (const a of Object.values(l)) add(a);
    let n = 0;
    for (const m of seen.values()) for (const b of m.values()) n += b;
    return n;
  }

  /** Allocate activations for (B, T) once; later calls with the same shape reuse them. */
  planFor(B: number, T: number): void {
    const ck = this.checkpointActivations;
    if (this.plan && this.plan.B === B && this.plan.T === T && this.plan.checkpointed === ck) return;
    this.plan = null; // let the old buffers go before the new ones are allocated
    const c = this.config, N = B * T, D = c.model_dim, hd = c.head_dim, V = c.vocab_size, L = c.num_transformer_layers;
    const f = (n: number) => this.alloc(n);
    let maxS = 0, maxQ = 0, maxKV = 0, maxF = 0, maxWt = V * D, maxLayerWt = 0;
    for (let i = 0; i < L; i++) {
      const { nQ, nKV, ffnDim: F } = layerSizes(c, i);
      const S = (nQ + 2 * nKV) * hd;
      maxS = Math.max(maxS, S); maxQ = Math.max(maxQ, nQ); maxKV = Math.max(maxKV, nKV); maxF = Math.max(maxF, F);
      maxWt = Math.max(maxWt, S * D, nQ * hd * D, 2 * F * D);
      maxLayerWt = Math.max(maxLayerWt, S * D, nQ * hd * D, 2 * F * D);
    }
    // Per layer, its own buffers; checkpointed, views of one shared set sized for the widest layer.
    const sizes = (nQ: number, nKV: number, F: number): Record<keyof LayerActs, number> => ({
      ln1: N * D, ln1Rstd: N, qkv: N * (nQ + 2 * nKV) * hd, q: N * nQ * hd, k: N * nKV * hd, v: N * nKV * hd,
      qRstd: N * nQ, kRstd: N * nKV, att: B * nQ * T * T, attOut: N * nQ * hd, resid2: N * D,
      ln2: N * D, ln2Rstd: N, gu: N * 2 * F, act: N * F,
    });
    const alloc = (z: Record<keyof LayerActs, number>) =>
      Object.fromEntries(Object.entries(z).map(([k, n]) => [k, f(n)])) as unknown as LayerActs;
    const shared = ck ? alloc(sizes(maxQ, maxKV, maxF)) : null;
    const layers: LayerActs[] = [];
    for (let i = 0; i < L; i++) {
      const { nQ, nKV, ffnDim: F } = layerSizes(c, i);
      const z = sizes(nQ, nKV, F);
      layers.push(shared ? Object.fromEntries(Object.entries(z).map(([k, n]) =>
        [k, shared[k as keyof LayerActs].subarray(0, n)])) as unknown as LayerActs : alloc(z));
    }
    const { cos, sin } = ropeTables(T, hd, c.rope_freq_constant);
    const maxC = Math.max(D, maxQ * hd, maxF);
    this.plan = {
      B, T, N, checkpointed: ck, ids: new Int32Array(N), targets: this.mm.allocI32 ? this.mm.allocI32(N) : new Int32Array(N),
      resid: Array.from({ length: L + 1 }, () => f(N * D)), layers,
      lnf: f(N * D), lnfRstd: f(N), logits: f(N * V), lse: f(N), tl: f(N), cos, sin,
      tmp: f(N * D), dresid: f(N * D), dln: f(N * D), dattOut: f(N * maxQ * hd), dqkv: f(N * maxS),
      dq: f(N * maxQ * hd), dk: f(N * maxKV * hd), dv: f(N * maxKV * hd), dgu: f(N * 2 * maxF), dact: f(N * maxF),
      scratch: { wT: f(this.mm.nn && V > NT_MAX_K ? maxLayerWt : maxWt), xT: f(maxC * N), doutT: f(OC_CHUNK * N) },
      attScratch: { tt: f(this.mm.nn ? T * T : 0), th1: f(this.mm.nn ? T * hd : 0), th2: f(0) },
    };
  }

  /**
   * Forward a (B, T) batch. targets (B·T) are aligned with the positions (the token each position should
   * predict, -100 = ignored; see hfTargets for HF's shifted labels) or null for logits only.
   * Returns the mean CE over counted targets and the z-loss (coefficient zLossCoef).
   */
  forward(ids: ArrayLike<number>, targets: ArrayLike<number> | null, B: number, T: number, zLossCoef = 0): ForwardResult {
    const c = this.config;
    if (T > c.max_context_length) throw new RangeError(`sequence length ${T} exceeds max_context_length ${c.max_context_length}`);
    this.planFor(B, T);
    const p = this.plan!, N = p.N, D = c.model_dim, hd = c.head_dim, V = c.vocab_size, mm = this.mm;
    for (let n = 0; n < N; n++) {
      const id = ids[n];
      if (!(id >= 0 && id < V)) throw new RangeError(`token id ${id} at position ${n} is outside the vocabulary [0, ${V})`);
      p.ids[n] = id;
      p.targets[n] = targets ? targets[n] : -100;
    }
    embeddingForward(p.resid[0], this.view(this.params, "transformer.token_embeddings.weight"), p.ids, N, D);
    for (let l = 0; l < c.num_transformer_layers; l++) this.layerForward(l);
    const L = c.num_transformer_layers;
    rmsnormForward(p.lnf, p.lnfRstd, p.resid[L], this.view(this.params, "transformer.norm.weight"), N, D, RMS_EPS);
    linearForward(mm, p.logits, p.lnf, this.head(this.params), N, D, V);
    let r: LossValues;
    if (mm.ceForward) { // fused kernel: per-row logsumexp and target logit; the sums stay in float64 here
      mm.ceForward(p.lse, p.tl, p.logits, p.targets, N, V);
      let ce = 0, z = 0, count = 0;
      for (let n = 0; n < N; n++) {
        if (p.targets[n] === -100) continue;
        ce += p.lse[n] - p.tl[n]; z += p.lse[n] * p.lse[n]; count++;
      }
      r = count ? { ce: ce / count, zLoss: (zLossCoef * z) / count, count } : { ce: 0, zLoss: 0, count };
    } else r = crossEntropyForward(p.lse, p.logits, p.targets, N, V, zLossCoef);
    this.last = { count: r.count, zLossCoef };
    return r;
  }

  /** Layer l: resid[l] -> its activations (p.layers[l]) and resid[l + 1]. */
  private layerForward(l: number): void {
    const c = this.config, p = this.plan!, mm = this.mm, { B, T, N } = p, D = c.model_dim, hd = c.head_dim;
    const { nQ, nKV, ffnDim: F } = layerSizes(c, l);
    const S = (nQ + 2 * nKV) * hd, w = this.w[l], a = p.layers[l];
    const sh: QKVShape = { B, T, nQ, nKV, hd, eps: RMS_EPS };
    rmsnormForward(a.ln1, a.ln1Rstd, p.resid[l], w.attnNorm, N, D, RMS_EPS);
    linearForward(mm, a.qkv, a.ln1, w.qkv, N, D, S);
    qkNormRopeForward(a.q, a.k, a.v, a.qRstd, a.kRstd, a.qkv, w.qNorm, w.kNorm, sh, p.cos, p.sin);
    if (this.attMM) attentionForwardMM(this.attMM, a.attOut, a.att, a.q, a.k, a.v, sh, p.attScratch);
    else attentionForward(a.attOut, a.att, a.q, a.k, a.v, sh);
    linearForward(mm, p.tmp, a.attOut, w.outProj, N, nQ * hd, D);
    residualForward(a.resid2, p.resid[l], p.tmp, N * D);
    rmsnormForward(a.ln2, a.ln2Rstd, a.resid2, w.ffnNorm, N, D, RMS_EPS);
    linearForward(mm, a.gu, a.ln2, w.proj1, N, D, 2 * F);
    if (mm.swigluForward) mm.swigluForward(a.act, a.gu, N, F); else swigluForward(a.act, a.gu, N, F);
    linearForward(mm, p.tmp, a.act, w.proj2, N, F, D);
    residualForward(p.resid[l + 1], a.resid2, p.tmp, N * D);
  }

  /** The (B·T, V) logits of the last forward (valid until backward, which overwrites them). */
  logits(): Float32Array {
    if (!this.plan) throw new Error("logits(): no forward yet");
    return this.plan.logits;
  }

  /**
   * Backward of scale · (ce + zLoss) of the last forward; gradients accumulate into this.grads (call
   * zeroGrad first; scale = 1 / micro-batches for gradient accumulation).
   */
  backward(scale = 1): void {
    if (!this.plan || !this.last) throw new Error("backward(): no forward yet");
    const c = this.config, p = this.plan, N = p.N, D = c.model_dim, hd = c.head_dim, V = c.vocab_size, mm = this.mm;
    const { B, T } = p, L = c.num_transformer_layers;
    const { count, zLossCoef } = this.last;
    if (mm.ceBackward && count > 0) mm.ceBackward(p.logits, p.lse, p.targets, N, V, scale / count, (scale * zLossCoef * 2) / count);
    else crossEntropyBackward(p.logits, p.lse, p.targets, N, V, count, zLossCoef, scale);
    this.last = null; // the logits are gone
    linearBackward(mm, p.dln, this.gradOf(this.headName()), p.logits, p.lnf, this.head(this.params), N, D, V, p.scratch);
    p.dresid.fill(0);
    rmsnormBackward(p.dresid, this.gradOf("transformer.norm.weight"), p.dln, p.resid[L],
      this.view(this.params, "transformer.norm.weight"), p.lnfRstd, N, D);
    for (let l = L - 1; l >= 0; l--) {
      // checkpointed: the shared activation buffers hold the last layer's; recompute this one's (resid[l + 1]
      // is rewritten with the same values, and dresid does not read it)
      if (p.checkpointed && l < L - 1) this.layerForward(l);
      const { nQ, nKV, ffnDim: F } = layerSizes(c, l);
      const S = (nQ + 2 * nKV) * hd, w = this.w[l], g = this.g[l], a = p.layers[l];
      const sh: QKVShape = { B, T, nQ, nKV, hd, eps: RMS_EPS };
      // feed-forward branch: resid[l+1] = resid2 + proj_2(swiglu(proj_1(rmsnorm(resid2))))
      linearBackward(mm, p.dact, g.proj2, p.dresid, a.act, w.proj2, N, F, D, p.scratch);
      if (mm.swigluBackward) mm.swigluBackward(p.dgu, p.dact, a.gu, N, F); else swigluBackward(p.dgu, p.dact, a.gu, N, F);
      linearBackward(mm, p.dln, g.proj1, p.dgu, a.ln2, w.proj1, N, D, 2 * F, p.scratch);
      rmsnormBackward(p.dresid, g.ffnNorm, p.dln, a.resid2, w.ffnNorm, a.ln2Rstd, N, D);
      // attention branch: resid2 = resid[l] + out_proj(attention(rope(qknorm(qkv_proj(rmsnorm(resid[l]))))))
      linearBackward(mm, p.dattOut, g.outProj, p.dresid, a.attOut, w.outProj, N, nQ * hd, D, p.scratch);
      if (this.attMM) attentionBackwardMM(this.attMM, p.dq, p.dk, p.dv, p.dattOut, a.att, a.q, a.k, a.v, sh, p.attScratch);
      else attentionBackward(p.dq, p.dk, p.dv, p.dattOut, a.att, a.q, a.k, a.v, sh);
      qkNormRopeBackward(p.dqkv, g.qNorm, g.kNorm, p.dq, p.dk, p.dv, a.qkv, w.qNorm, w.kNorm, a.qRstd, a.kRstd, sh, p.cos, p.sin);
      linearBackward(mm, p.dln, g.qkv, p.dqkv, a.ln1, w.qkv, N, D, S, p.scratch);
      rmsnormBackward(p.dresid, g.attnNorm, p.dln, p.resid[l], w.attnNorm, a.ln1Rstd, N, D);
    }
    const dE = this.gradOf("transformer.token_embeddings.weight");
    if (dE) embeddingBackward(dE, p.dresid, p.ids, N, D);
  }
}

/** HF causal-LM labels (B, T) -> position-aligned targets: targets[b, t] = labels[b, t + 1], last = -100. */
export function hfTargets(labels: ArrayLike<number>, B: number, T: number): Int32Array {
  const out = new Int32Array(B * T).fill(-100);
  for (let b = 0; b < B; b++) for (let t = 0; t + 1 < T; t++) out[b * T + t] = labels[b * T + t + 1];
  return out;
}
