// OpenELM for training: the model definition of models/openelm.ts (layer, head) run by TapeOps, which keep
// each op's activations and record its backward rule (the backend's TrainingKernels, or the plain-TS set in
// train/autograd); backward() replays the records in reverse into gradients named like the checkpoint
// (llm.c gpt2_forward / gpt2_backward, with the order taken from the forward instead of written twice).
// Activation memory is planned once per (B, T) shape (llm.c ActivationTensors), never per step.
// Shapes: B batch, T positions, N = B·T, D model_dim, hd head_dim, V vocab; per layer nQ, nKV, F, and
// S = (nQ + 2 nKV)·hd. Weights keep the torch Linear layout (out, in).

import type { Backend, Matrix, TrainingKernels } from "../kernels/backend.js";
import { createRefBackend } from "../kernels/ref/index.js";
import { RMS_EPS, layerSizes, type LayerSizes, type OpenELMConfig } from "../models/config.js";
import { head, layer, type LayerOps, type LayerWeights, type LinearName, type OpenELMWeights } from "../models/openelm.js";
import { adapterForward, backendRows, doraWeightNorm, type AdapterOps, type AdapterTerm, type RowReader } from "../models/adapter.js";
import { LORA_TARGETS, peftTensorName, type LoraModule, type LoraTarget, type PeftAdapter } from "../io/peft_adapter.js";
import { InputError } from "../errors.js";
import { Rng } from "../tensor/rng.js";
import type { StoredTensor } from "../tensor/tensor.js";
import { attentionBackward, attentionBackwardMM, attentionForward, attentionForwardMM, type AttentionShape } from "./autograd/attention.js";
import { embeddingBackward, embeddingForward } from "./autograd/embedding.js";
import { refTrainingKernels } from "./autograd/index.js";
import { frozenLinearBackward, LinearScratch, linearBackward } from "./autograd/matmul.js";
import { layoutOf, loadParams, paramLayout, paramsToTensors, type ParamLayout } from "./parameters.js";

/** A weight as training holds it: a float32 view of the flat parameters and of its gradient (null: frozen). */
export interface ParamMatrix extends Matrix {
  readonly data: Float32Array;
  readonly grad: Float32Array | null;
}

export interface ForwardResult {
  /** Mean cross-entropy over the counted targets (0 when none). */
  ce: number;
  /** coef · mean logsumexp² over the counted targets. */
  zLoss: number;
  /** Counted targets. */
  count: number;
}

/** One adapted Linear being trained: the forward's AdapterTerm over views of the adapter's parameters. */
interface TrainedModule extends AdapterTerm {
  target: LoraTarget;
  /** The same tensors as a LoraModule (views), for DoRA's weight norm. */
  lora: LoraModule;
  /** The base weight it wraps (a backend matrix when the base is borrowed from an inference model). */
  W: ParamMatrix | Matrix;
}

/** A LoRA / DoRA adapter under training: its tensors (PEFT's names) are the trainable parameters. */
export interface TrainedAdapter {
  readonly peft: PeftAdapter;
  readonly layout: ParamLayout;
  readonly params: Float32Array;
  readonly grads: Float32Array;
  readonly dropout: number;
  readonly modules: Array<Partial<Record<LoraTarget, TrainedModule>>>;
}

/** One op's backward, run in reverse order of the forward. */
type BackwardRule = () => void;

/**
 * Activation buffers in call order, per segment (a layer, the embedding, the head), reused by every forward of
 * the planned shape. Sizes come from a dry run of the forward (TapeOps.dry), so segments that share buffers
 * (activation checkpointing: all layers) get each slot at its widest.
 */
class ActivationPlan {
  private readonly segs = new Map<string, { sizes: number[]; bufs: Float32Array[] }>();
  private cur: { sizes: number[]; bufs: Float32Array[] } | null = null;
  private i = 0;
  constructor(readonly key: string, private readonly alloc: (n: number) => Float32Array) {}

  start(seg: string): void {
    let s = this.segs.get(seg);
    if (!s) this.segs.set(seg, s = { sizes: [], bufs: [] });
    this.cur = s; this.i = 0;
  }
  /** Dry run: note the size of the next slot. */
  note(n: number): void {
    const s = this.cur!;
    s.sizes[this.i] = Math.max(s.sizes[this.i] ?? 0, n);
    this.i++;
  }
  allocate(): void {
    for (const s of this.segs.values()) s.bufs = s.sizes.map((n) => this.alloc(n));
  }
  take(n: number): Float32Array {
    const b = this.cur!.bufs[this.i++];
    if (!b) throw new Error("activation plan: more buffers taken than planned (the forward changed between runs)");
    return b.length === n ? b : b.subarray(0, n);
  }
  bytes(): number {
    let n = 0;
    for (const s of this.segs.values()) for (const b of s.bufs) n += b.byteLength;
    return n;
  }
}

/**
 * LayerOps of training over B sequences of T tokens: outputs in planned buffers, never in place (inputs stay
 * for the backward), each op pushing its backward rule onto `tape`. dry: only note buffer sizes.
 */
class TapeOps implements LayerOps, AdapterOps {
  tape: BackwardRule[] = [];
  dry = false;
  layer = 0;
  sizes: LayerSizes = { nQ: 0, nKV: 0, ffnDim: 0 };
  /** The adapted module of the current linear (dropout masks are drawn per module). */
  private module: TrainedModule | null = null;
  constructor(private readonly m: TrainableOpenELM, private readonly N: number, private readonly T: number) {}

  private out(n: number): Float32Array {
    if (this.dry) { this.m.plan!.note(n); return new Float32Array(0); }
    return this.m.plan!.take(n);
  }

  rmsnorm(x: Float32Array, w: Float32Array): Float32Array {
    const { N } = this, D = this.m.config.model_dim, m = this.m;
    const y = this.out(N * D);
    if (this.dry) return y;
    m.backend.rmsnorm(y, x, w, N, D, RMS_EPS);
    this.tape.push(() => {
      const g = m.popGrad(y);
      if (!g) return;
      const { g: dx, fresh } = m.gradFor(x);
      m.k.rmsnormBackward(dx, m.vectorGrad(w), g, x, w, N, D, RMS_EPS, !fresh);
      m.release(g);
    });
    return y;
  }

  linear(x: Float32Array, W: Matrix, name: LinearName): Float32Array {
    const y = this.matmul(x, W);
    const t = name === "lm_head" || !this.m.adapterEnabled ? undefined : this.m.adapter?.modules[this.layer][name];
    if (!t) return y;
    this.module = t;
    return adapterForward(this, y, x, W, t);
  }

  dropout(x: Float32Array): Float32Array {
    const m = this.m, a = m.adapter, t = this.module!;
    if (!a || a.dropout === 0 || m.dropoutSeed === null) return x;
    const n = this.N * t.A.cols, keep = 1 / (1 - a.dropout);
    const y = this.out(n);
    if (this.dry) return y;
    // the mask from (seed, module): a checkpointed layer's recompute draws the same one
    const rng = new Rng([m.dropoutSeed, this.layer, LORA_TARGETS.indexOf(t.target), 0x9e3779b9]);
    const mask = new Uint8Array(n);
    for (let i = 0; i < n; i++) { mask[i] = rng.next() >= a.dropout ? 1 : 0; y[i] = mask[i] ? x[i] * keep : 0; }
    this.tape.push(() => {
      const g = m.popGrad(y);
      if (!g) return;
      m.writeGrad(x, (d) => { for (let i = 0; i < n; i++) d[i] = mask[i] ? g[i] * keep : 0; });
      m.release(g);
    });
    return y;
  }

  addScaled(y: Float32Array, z: Float32Array, s: number): Float32Array {
    const m = this.m, n = this.N * this.module!.B.rows; // sizes from shapes: the dry run's arrays are empty
    const out = this.out(n);
    if (this.dry) return out;
    for (let i = 0; i < n; i++) out[i] = y[i] + s * z[i];
    this.tape.push(() => {
      const g = m.popGrad(out);
      if (!g) return;
      m.writeGrad(z, (d) => { for (let i = 0; i < n; i++) d[i] = s * g[i]; });
      m.addGrad(y, g);
    });
    return out;
  }

  magnitude(z: Float32Array, mag: Float32Array, norm: Float32Array | null): Float32Array {
    const m = this.m, O = mag.length, rows = this.N, n = rows * O;
    const out = this.out(n);
    if (this.dry) return out;
    const nrm = norm!; // training always passes the norm of this forward
    for (let r = 0; r < rows; r++) for (let o = 0; o < O; o++) out[r * O + o] = z[r * O + o] * (mag[o] / nrm[o]);
    this.tape.push(() => {
      const g = m.popGrad(out);
      if (!g) return;
      const dm = m.vectorGrad(mag);
      if (dm) { // dL/dm = Σ_rows dL/dy ⊙ z / n, with n a constant (detached, as PEFT)
        const acc = new Float64Array(O);
        for (let r = 0; r < rows; r++) for (let o = 0; o < O; o++) acc[o] += g[r * O + o] * z[r * O + o];
        for (let o = 0; o < O; o++) dm[o] += acc[o] / nrm[o];
      }
      m.writeGrad(z, (d) => { for (let r = 0; r < rows; r++) for (let o = 0; o < O; o++) d[r * O + o] = g[r * O + o] * (mag[o] / nrm[o]); });
      m.release(g);
    });
    return out;
  }

  matmul(x: Float32Array, W: Matrix): Float32Array {
    const { N } = this, m = this.m, P = W as ParamMatrix, C = P.cols, OC = P.rows;
    const y = this.out(N * OC);
    if (this.dry) return y;
    if (!isParam(W)) { // a frozen weight of the inference model, in its stored dtype
      m.backend.matmul(y, x, W, N);
      this.tape.push(() => {
        const g = m.popGrad(y);
        if (!g) return;
        const { g: dx, fresh } = m.gradFor(x);
        frozenLinearBackward(m.k, dx, !fresh, g, backendRows(m.backend, W), N, C, OC, m.scratch);
        m.release(g);
      });
      return y;
    }
    m.k.abt(y, x, P.data, N, OC, C, false);
    this.tape.push(() => {
      const g = m.popGrad(y);
      if (!g) return;
      const { g: dx, fresh } = m.gradFor(x);
      linearBackward(m.k, dx, !fresh, P.grad, g, x, P.data, N, C, OC, m.scratch);
      m.release(g);
    });
    return y;
  }

  qkNormRope(qkv: Float32Array, qNorm: Float32Array | null, kNorm: Float32Array | null): Float32Array {
    const { N, T } = this, m = this.m, c = m.config, hd = c.head_dim, { nQ, nKV } = this.sizes, S = (nQ + 2 * nKV) * hd;
    const y = this.out(N * S);
    if (this.dry) return y;
    y.set(qkv);
    for (let b = 0; b < N / T; b++) // every sequence starts at position 0
      m.backend.qkNormRope(y.subarray(b * T * S, (b + 1) * T * S), T, nQ, nKV, hd, qNorm, kNorm, RMS_EPS, 0, c.rope_freq_constant);
    this.tape.push(() => {
      const g = m.popGrad(y);
      if (!g) return;
      m.writeGrad(qkv, (d) => m.k.qkNormRopeBackward(d, m.vectorGrad(qNorm), m.vectorGrad(kNorm), g, qkv, qNorm, kNorm,
        N, T, nQ, nKV, hd, RMS_EPS, c.rope_freq_constant));
      m.release(g);
    });
    return y;
  }

  attention(qkv: Float32Array): Float32Array {
    const { N, T } = this, m = this.m, hd = m.config.head_dim, { nQ, nKV } = this.sizes, B = N / T;
    const q = this.out(N * nQ * hd), k = this.out(N * nKV * hd), v = this.out(N * nKV * hd);
    const att = this.out(B * nQ * T * T), y = this.out(N * nQ * hd);
    if (this.dry) return y;
    const sh: AttentionShape = { B, T, nQ, nKV, hd };
    m.k.splitHeads(qkv, q, k, v, N, T, nQ, nKV, hd, false);
    if (m.attentionMM) attentionForwardMM(m.k, y, att, q, k, v, sh, m.attentionScratch(T, hd));
    else attentionForward(y, att, q, k, v, sh);
    this.tape.push(() => {
      const g = m.popGrad(y);
      if (!g) return;
      const dq = m.gradBuffer(N * nQ * hd), dk = m.gradBuffer(N * nKV * hd), dv = m.gradBuffer(N * nKV * hd);
      if (m.attentionMM) attentionBackwardMM(m.k, dq, dk, dv, g, att, q, k, v, sh, m.attentionScratch(T, hd));
      else attentionBackward(dq, dk, dv, g, att, q, k, v, sh);
      m.writeGrad(qkv, (d) => m.k.splitHeads(d, dq, dk, dv, N, T, nQ, nKV, hd, true));
      for (const b of [g, dq, dk, dv]) m.release(b);
    });
    return y;
  }

  swiglu(gu: Float32Array): Float32Array {
    const { N } = this, m = this.m, F = this.sizes.ffnDim;
    const y = this.out(N * F);
    if (this.dry) return y;
    m.backend.swiglu(y, gu, N, F);
    this.tape.push(() => {
      const g = m.popGrad(y);
      if (!g) return;
      m.writeGrad(gu, (d) => m.k.swigluBackward(d, g, gu, N, F));
      m.release(g);
    });
    return y;
  }

  residual(x: Float32Array, y: Float32Array): Float32Array {
    const m = this.m, n = this.N * m.config.model_dim;
    const out = this.out(n);
    if (this.dry) return out;
    out.set(x);
    m.backend.addInPlace(out, y, n);
    this.tape.push(() => {
      const g = m.popGrad(out);
      if (!g) return;
      m.writeGrad(y, (d) => d.set(g)); // the branch's gradient, then x takes g itself
      m.addGrad(x, g);
    });
    return out;
  }
}

export class TrainableOpenELM {
  readonly layout: ParamLayout;
  readonly params: Float32Array;
  readonly grads: Float32Array;
  /** The weights as the model definition takes them: views of params (and grads). */
  readonly weights: OpenELMWeights;
  readonly k: TrainingKernels;
  /** Attention as per-head matmuls on the backend's kernels; the plain-TS set uses the float64 loops. */
  readonly attentionMM: boolean;
  /** @internal the activation plan of the current (B, T) shape */
  plan: ActivationPlan | null = null;
  private readonly plans = new Map<string, ActivationPlan>();
  /** @internal */
  readonly scratch: LinearScratch;
  private readonly vecGrads = new Map<Float32Array, Float32Array | null>();
  private readonly actGrads = new Map<Float32Array, Float32Array>();
  private readonly freeGrads = new Map<number, Float32Array[]>();
  private readonly pooled = new WeakSet<Float32Array>();
  private attScratch: { tt: Float32Array; th1: Float32Array } | null = null;
  private fwd: {
    B: number; T: number; ids: Int32Array; targets: Int32Array; x0: Float32Array; headInput: Float32Array; logits: Float32Array;
    lse: Float32Array; tl: Float32Array; count: number; zLossCoef: number;
    /** Per layer: its input, its output and its backward rules (checkpointed: only the last layer's). */
    layers: Array<{ x: Float32Array; out: Float32Array; tape: BackwardRule[] | null }>;
    head: BackwardRule[];
  } | null = null;
  /**
   * Activation checkpointing: keep only each layer's input (the residual stream) through the forward, and
   * recompute a layer's activations just before its backward. All layers then share one set of activation
   * buffers (the attention probabilities, B·nQ·T² floats a layer, dominate at long T) for one extra
   * forward of the transformer layers. Gradients are bit-identical either way. Set before forward().
   */
  checkpointActivations = false;
  /** The attached adapter's shape (ranks, DoRA) as a key of activation plans. */
  private adapterShape = "";
  /** The adapter being trained (attachAdapter), or null. */
  adapter: TrainedAdapter | null = null;
  /** Seed of the adapter's dropout masks for the next forward; null: no dropout (evaluation, reference models). */
  dropoutSeed: number | null = null;
  /** False: forward the base without the attached adapter (DPO's reference model under LoRA). */
  adapterEnabled = true;

  /**
   * backend: where the forward ops and (its TrainingKernels, else the plain-TS set) the backward run; default
   * the reference backend. frozen: names of tensors that get no gradient (their weight gradients are not
   * computed at all).
   */
  constructor(readonly config: OpenELMConfig, readonly backend: Backend = createRefBackend(), frozen?: (name: string) => boolean,
    base?: OpenELMWeights) {
    this.k = backend.training ?? refTrainingKernels;
    this.attentionMM = this.k !== refTrainingKernels;
    this.layout = paramLayout(config, base ? () => true : frozen);
    // a borrowed base has no parameters of its own; a frozen base (LoRA) has no gradient memory at all
    this.params = backend.alloc(base ? 0 : this.layout.total);
    this.grads = backend.alloc(!base && this.layout.infos.some((p) => p.trainable) ? this.layout.total : 0);
    this.scratch = new LinearScratch((n) => backend.alloc(n));
    if (base) for (const v of [base.norm, ...base.layers.flatMap((l) => [l.attn_norm, l.ffn_norm, l.q_norm, l.k_norm])]) if (v) this.vecGrads.set(v, null);
    this.weights = base ?? this.makeWeights();
  }

  /**
   * A frozen view of an inference model's weights, to train an adapter on without a second copy of the base:
   * the linears run on the backend's inference kernels in their stored dtype (f32, f16, bf16, q8_0, q4_0 …),
   * and their input gradients read the weights a block of rows at a time, widened to float32.
   */
  static overWeights(config: OpenELMConfig, weights: OpenELMWeights, backend: Backend): TrainableOpenELM {
    return new TrainableOpenELM(config, backend, undefined, weights);
  }

  /** A model holding the given checkpoint tensors (widened to float32). */
  static fromTensors(config: OpenELMConfig, tensors: Map<string, StoredTensor>, file = "model.safetensors",
    backend?: Backend): TrainableOpenELM {
    const m = new TrainableOpenELM(config, backend);
    loadParams(m.layout, m.params, tensors, file);
    return m;
  }

  /** The parameters as F32 checkpoint tensors. */
  toTensors(): StoredTensor[] {
    if (this.params.length < this.layout.total) throw new InputError("toTensors(): the base weights are borrowed from an inference model (overWeights); save the adapter instead");
    return paramsToTensors(this.layout, this.params);
  }

  view(flat: Float32Array, name: string): Float32Array {
    const p = this.layout.byName.get(name)!;
    return flat.subarray(p.offset, p.offset + p.size);
  }

  /** The gradient of a tensor, or null when it is frozen. */
  private gradOf(name: string): Float32Array | null {
    return this.layout.byName.get(name)!.trainable ? this.view(this.grads, name) : null;
  }

  private makeWeights(): OpenELMWeights {
    const c = this.config;
    const mat = (name: string): ParamMatrix => {
      const p = this.layout.byName.get(name)!;
      return { dtype: "f32", rows: p.shape[0], cols: p.shape[1], data: this.view(this.params, name), grad: this.gradOf(name) };
    };
    const vec = (name: string): Float32Array => {
      const v = this.view(this.params, name);
      this.vecGrads.set(v, this.gradOf(name));
      return v;
    };
    const layers: LayerWeights[] = [];
    for (let i = 0; i < c.num_transformer_layers; i++) {
      const p = `transformer.layers.${i}.`;
      layers.push({
        attn_norm: vec(p + "attn_norm.weight"), qkv_proj: mat(p + "attn.qkv_proj.weight"),
        q_norm: c.normalize_qk_projections ? vec(p + "attn.q_norm.weight") : null,
        k_norm: c.normalize_qk_projections ? vec(p + "attn.k_norm.weight") : null,
        out_proj: mat(p + "attn.out_proj.weight"), ffn_norm: vec(p + "ffn_norm.weight"),
        proj_1: mat(p + "ffn.proj_1.weight"), proj_2: mat(p + "ffn.proj_2.weight"),
      });
    }
    return {
      token_embeddings: mat("transformer.token_embeddings.weight"), layers, norm: vec("transformer.norm.weight"),
      lm_head: c.share_input_output_layers ? null : mat("lm_head.weight"),
    };
  }

  /**
   * Train a PEFT LoRA / DoRA adapter on this model: its A, B (and DoRA magnitude) tensors become trainable
   * parameters in the backend's memory, applied by the model definition's linear op (models/adapter.ts
   * adapterForward). Construct the model with every base tensor frozen for PEFT's fine-tuning.
   */
  attachAdapter(peft: PeftAdapter): TrainedAdapter {
    const c = this.config;
    if (peft.layers.length !== c.num_transformer_layers)
      throw new InputError(`adapter: made for ${peft.layers.length} layers, the model has ${c.num_transformer_layers}`);
    const dropout = Number(peft.config.lora_dropout ?? 0); // validated when the adapter was read
    const entries: Array<[string, number[]]> = [];
    peft.layers.forEach((l, i) => {
      for (const t of LORA_TARGETS) {
        const m = l[t];
        if (!m) continue;
        entries.push([peftTensorName(i, t, "lora_A"), [m.r, m.in]], [peftTensorName(i, t, "lora_B"), [m.out, m.r]]);
        if (m.magnitude) entries.push([peftTensorName(i, t, "magnitude"), [m.out]]);
      }
    });
    const layout = layoutOf(entries), params = this.backend.alloc(layout.total), grads = this.backend.alloc(layout.total);
    const view = (flat: Float32Array, name: string) => { const p = layout.byName.get(name)!; return flat.subarray(p.offset, p.offset + p.size); };
    const modules = peft.layers.map((l, i) => {
      const out: Partial<Record<LoraTarget, TrainedModule>> = {};
      for (const t of LORA_TARGETS) {
        const lm = l[t];
        if (!lm) continue;
        const W = this.weights.layers[i][t];
        if (W.rows !== lm.out || W.cols !== lm.in)
          throw new InputError(`adapter: layer ${i} ${t} is (${lm.out}, ${lm.in}), the model's weight is (${W.rows}, ${W.cols})`);
        const a = peftTensorName(i, t, "lora_A"), b = peftTensorName(i, t, "lora_B"), g = peftTensorName(i, t, "magnitude");
        view(params, a).set(lm.A); view(params, b).set(lm.B);
        const A: ParamMatrix = { dtype: "f32", rows: lm.r, cols: lm.in, data: view(params, a), grad: view(grads, a) };
        const B: ParamMatrix = { dtype: "f32", rows: lm.out, cols: lm.r, data: view(params, b), grad: view(grads, b) };
        let magnitude: Float32Array | null = null;
        if (lm.magnitude) {
          magnitude = view(params, g);
          magnitude.set(lm.magnitude);
          this.vecGrads.set(magnitude, view(grads, g));
        }
        const lora: LoraModule = { ...lm, A: A.data, B: B.data, magnitude };
        out[t] = { target: t, A, B, scaling: lm.scaling, magnitude, norm: magnitude ? new Float32Array(lm.out) : null, lora, W };
      }
      return out;
    });
    // the forward's ops depend on the adapter's shape: plans are kept per shape (a backend's memory is never
    // freed one buffer at a time), so attaching another adapter of the same shape reuses them
    this.adapterShape = peft.layers.map((l) => LORA_TARGETS.map((t) => `${l[t]?.r ?? 0}${l[t]?.magnitude ? "m" : ""}`).join(".")).join("|");
    this.plan = null;
    return this.adapter = { peft, layout, params, grads, dropout, modules };
  }

  /** The trained adapter with its current values (copies), ready for writePeftAdapter. */
  adapterSnapshot(): PeftAdapter {
    const a = this.adapter;
    if (!a) throw new Error("adapterSnapshot(): no adapter attached");
    return {
      config: a.peft.config, useDora: a.peft.useDora,
      layers: a.modules.map((l) => {
        const out: Partial<Record<LoraTarget, LoraModule>> = {};
        for (const t of LORA_TARGETS) {
          const m = l[t];
          if (m) out[t] = { ...m.lora, A: m.lora.A.slice(), B: m.lora.B.slice(), magnitude: m.lora.magnitude?.slice() ?? null };
        }
        return out;
      }),
    };
  }

  /** DoRA: ‖W + s·B·A‖ per output row from the current weights, once per forward (a constant in the backward). */
  private updateDoraNorms(): void {
    for (const l of this.adapter?.modules ?? []) for (const t of LORA_TARGETS) {
      const m = l[t];
      if (!m?.norm) continue;
      m.norm.set(doraWeightNorm(m.lora, weightRows(this.backend, m.W)));
    }
  }

  zeroGrad(): void { this.grads.fill(0); this.adapter?.grads.fill(0); }

  /** Bytes of activation memory planned for the current (B, T) batch (this plan only). */
  activationBytes(): number { return this.plan?.bytes() ?? 0; }

  // ---- gradients of activations: buffers of the backend's memory, recycled by size

  /** @internal A gradient-sized buffer (contents undefined) from the pool. */
  gradBuffer(n: number): Float32Array {
    const b = this.freeGrads.get(n)?.pop();
    if (b) return b;
    const a = this.backend.alloc(n);
    this.pooled.add(a);
    return a;
  }
  /** @internal Return a buffer from gradBuffer (others, e.g. the logits, are left alone). */
  release(b: Float32Array): void {
    if (!this.pooled.has(b)) return;
    let l = this.freeGrads.get(b.length);
    if (!l) this.freeGrads.set(b.length, l = []);
    l.push(b);
  }
  /** @internal Take the gradient of an op's output (null: the output did not reach the loss). */
  popGrad(a: Float32Array): Float32Array | null {
    const g = this.actGrads.get(a) ?? null;
    this.actGrads.delete(a);
    return g;
  }
  /** @internal The gradient buffer of activation a; fresh: just taken, so a writer overwrites instead of adding. */
  gradFor(a: Float32Array): { g: Float32Array; fresh: boolean } {
    const g = this.actGrads.get(a);
    if (g) return { g, fresh: false };
    const n = this.gradBuffer(a.length);
    this.actGrads.set(a, n);
    return { g: n, fresh: true };
  }
  /** @internal Let a kernel that can only overwrite produce a's gradient (added when a already has one). */
  writeGrad(a: Float32Array, write: (d: Float32Array) => void): void {
    const { g, fresh } = this.gradFor(a);
    if (fresh) { write(g); return; }
    const t = this.gradBuffer(a.length);
    write(t);
    this.backend.addInPlace(g, t, a.length);
    this.release(t);
  }
  /** @internal a's gradient += g, taking g itself when a has none yet. */
  addGrad(a: Float32Array, g: Float32Array): void {
    const have = this.actGrads.get(a);
    if (!have) { this.actGrads.set(a, g); return; }
    this.backend.addInPlace(have, g, a.length);
    this.release(g);
  }
  /** @internal The gradient of a norm weight (null: frozen or absent). */
  vectorGrad(w: Float32Array | null): Float32Array | null {
    return w ? this.vecGrads.get(w) ?? null : null;
  }
  /** @internal (T, T) and (T, hd) scratch of the attention matmuls. */
  attentionScratch(T: number, hd: number): { tt: Float32Array; th1: Float32Array } {
    const s = this.attScratch;
    if (s && s.tt.length >= T * T && s.th1.length >= T * hd) return s;
    return this.attScratch = { tt: this.backend.alloc(T * T), th1: this.backend.alloc(T * hd) };
  }

  // ---- forward and backward

  /** Size the activations of a (B, T) batch with a dry run of the forward; later calls of that shape reuse them. */
  private planFor(B: number, T: number): void {
    const drop = this.adapter && this.adapter.dropout > 0 && this.dropoutSeed !== null;
    const key = `${B}x${T}${this.checkpointActivations ? "/ckpt" : ""}${drop ? "/dropout" : ""}${this.adapterEnabled ? `/${this.adapterShape}` : "/base"}`;
    if (this.plan?.key === key) return;
    this.actGrads.clear();
    // Plans are kept by key: a backend's memory is never freed one buffer at a time, and DPO alternates between
    // the adapter's plan and the base's (its reference) every step, evaluation between dropout and none.
    const known = this.plans.get(key);
    if (known) { this.plan = known; return; }
    const plan = new ActivationPlan(key, (n) => this.backend.alloc(n));
    this.plan = plan;
    const ops = new TapeOps(this, B * T, T);
    ops.dry = true;
    this.runForward(ops, new Int32Array(B * T), B, T);
    plan.allocate();
    this.plans.set(key, plan);
  }

  /** The model definition over the planned buffers: embedding, layers, head; returns the logits (N, V). */
  private runForward(ops: TapeOps, ids: Int32Array, B: number, T: number): Float32Array {
    const c = this.config, N = B * T, D = c.model_dim, plan = this.plan!, ck = this.checkpointActivations;
    plan.start("embed");
    const x0 = ops.dry ? (plan.note(N * D), new Float32Array(0)) : plan.take(N * D);
    const E = this.weights.token_embeddings;
    if (!ops.dry) isParam(E) ? embeddingForward(x0, E.data, ids, N, D) : this.backend.embed(x0, E, ids);
    const layers: NonNullable<TrainableOpenELM["fwd"]>["layers"] = [];
    let x = x0;
    for (let l = 0; l < c.num_transformer_layers; l++) {
      const out = this.layerForward(ops, l, x);
      if (ck) { // keep the layer's output apart from the buffers the next layer reuses
        plan.start(`resid${l}`);
        const keep = ops.dry ? (plan.note(N * D), new Float32Array(0)) : plan.take(N * D);
        if (!ops.dry) keep.set(out);
        layers.push({ x, out, tape: l === c.num_transformer_layers - 1 ? ops.tape : null });
        x = keep;
      } else {
        layers.push({ x, out, tape: ops.tape });
        x = out;
      }
    }
    plan.start("head");
    ops.tape = [];
    const logits = head(ops, x, this.weights);
    if (!ops.dry) {
      const f = this.fwd!;
      f.x0 = x0; f.layers = layers; f.head = ops.tape; f.headInput = x; f.logits = logits;
    }
    return logits;
  }

  /** Layer l on input x, recording its backward rules into a fresh ops.tape. */
  private layerForward(ops: TapeOps, l: number, x: Float32Array): Float32Array {
    this.plan!.start(this.checkpointActivations ? "layers" : `layer${l}`);
    ops.sizes = layerSizes(this.config, l);
    ops.layer = l;
    ops.tape = [];
    return layer(ops, x, this.weights.layers[l]);
  }

  /**
   * Forward a (B, T) batch. targets (B·T) are aligned with the positions (the token each position should
   * predict, -100 = ignored; see hfTargets for HF's shifted labels) or null for logits only.
   * Returns the mean CE over counted targets and the z-loss (coefficient zLossCoef).
   */
  forward(ids: ArrayLike<number>, targets: ArrayLike<number> | null, B: number, T: number, zLossCoef = 0): ForwardResult {
    const c = this.config, N = B * T, V = c.vocab_size;
    if (T > c.max_context_length) throw new RangeError(`sequence length ${T} exceeds max_context_length ${c.max_context_length}`);
    this.planFor(B, T);
    if (!this.fwd || this.fwd.B !== B || this.fwd.T !== T) {
      this.fwd = { B, T, ids: new Int32Array(N), targets: this.k.allocI32(N), x0: new Float32Array(0), headInput: new Float32Array(0), logits: new Float32Array(0),
        lse: this.backend.alloc(N), tl: this.backend.alloc(N), count: 0, zLossCoef: 0, layers: [], head: [] };
    }
    const f = this.fwd;
    for (let n = 0; n < N; n++) {
      const id = ids[n];
      if (!(id >= 0 && id < V)) throw new RangeError(`token id ${id} at position ${n} is outside the vocabulary [0, ${V})`);
      f.ids[n] = id;
      f.targets[n] = targets ? targets[n] : -100;
    }
    this.actGrads.clear();
    this.updateDoraNorms();
    const ops = new TapeOps(this, N, T);
    const logits = this.runForward(ops, f.ids, B, T);
    // per-row logsumexp and target logit from the kernels; the sums stay in float64 here
    this.k.ceForward(f.lse, f.tl, logits, f.targets, N, V);
    let ce = 0, z = 0, count = 0;
    for (let n = 0; n < N; n++) {
      if (f.targets[n] === -100) continue;
      ce += f.lse[n] - f.tl[n]; z += f.lse[n] * f.lse[n]; count++;
    }
    f.count = count; f.zLossCoef = zLossCoef;
    return count ? { ce: ce / count, zLoss: (zLossCoef * z) / count, count } : { ce: 0, zLoss: 0, count };
  }

  /** Σ over each sequence's counted targets of log p(target) (B values, float64) of the last forward. */
  sequenceLogProbs(): Float64Array {
    const f = this.fwd;
    if (!f || !f.logits.length) throw new Error("sequenceLogProbs(): no forward yet");
    const out = new Float64Array(f.B);
    for (let n = 0; n < f.B * f.T; n++) if (f.targets[n] !== -100) out[Math.floor(n / f.T)] += f.tl[n] - f.lse[n];
    return out;
  }

  /**
   * Backward of Σ_b w[b] · (Σ over sequence b's counted targets of log p(target)) of the last forward (sequence
   * log-probs weighted per sequence, as DPO needs); gradients accumulate as in backward().
   */
  backwardSequences(w: ArrayLike<number>): void {
    const f = this.fwd;
    if (!f || !f.logits.length) throw new Error("backwardSequences(): no forward yet");
    const T = f.T, V = this.config.vocab_size;
    // per sequence: w · (onehot − softmax) = ceBackward with cs = −w, no z-loss
    for (let b = 0; b < f.B; b++)
      this.k.ceBackward(f.logits.subarray(b * T * V, (b + 1) * T * V), f.lse.subarray(b * T, (b + 1) * T), f.targets.subarray(b * T, (b + 1) * T), T, V, -w[b], 0);
    this.backwardFromLogitGrads();
  }

  /** The (B·T, V) logits of the last forward (valid until backward, which overwrites them). */
  logits(): Float32Array {
    if (!this.fwd || !this.fwd.logits.length) throw new Error("logits(): no forward yet");
    return this.fwd.logits;
  }

  /**
   * Backward of scale · (ce + zLoss) of the last forward; gradients accumulate into this.grads (call
   * zeroGrad first; scale = 1 / micro-batches for gradient accumulation).
   */
  backward(scale = 1): void {
    const f = this.fwd;
    if (!f || !f.logits.length) throw new Error("backward(): no forward yet");
    const N = f.B * f.T, V = this.config.vocab_size;
    const { count, zLossCoef } = f;
    if (count === 0) { f.logits = new Float32Array(0); return; } // nothing counted: every gradient is 0
    this.k.ceBackward(f.logits, f.lse, f.targets, N, V, scale / count, (scale * zLossCoef * 2) / count);
    this.backwardFromLogitGrads();
  }

  /** The rest of the backward once the logits hold their gradient (in place). */
  private backwardFromLogitGrads(): void {
    const f = this.fwd!, c = this.config, N = f.B * f.T, D = c.model_dim, ck = this.checkpointActivations;
    this.actGrads.set(f.logits, f.logits); // in place: the logits are now their gradient
    f.logits = new Float32Array(0); // gone
    for (let i = f.head.length - 1; i >= 0; i--) f.head[i]();
    const ops = new TapeOps(this, N, f.T);
    for (let l = c.num_transformer_layers - 1; l >= 0; l--) {
      const L = f.layers[l];
      if (ck) {
        // the output's gradient arrived on the kept copy; recompute the layer (the last one's activations
        // are still in the shared buffers) and hand the gradient to the recomputed output
        const kept = l + 1 < f.layers.length ? f.layers[l + 1].x : f.headInput;
        let tape = L.tape, out = L.out;
        if (!tape) { out = this.layerForward(ops, l, L.x); tape = ops.tape; }
        const g = this.popGrad(kept);
        if (g) this.actGrads.set(out, g);
        for (let i = tape.length - 1; i >= 0; i--) tape[i]();
        L.tape = null;
      } else for (let i = L.tape!.length - 1; i >= 0; i--) L.tape![i]();
    }
    const g = this.popGrad(f.x0);
    const E = this.weights.token_embeddings;
    if (g && isParam(E) && E.grad) embeddingBackward(E.grad, g, f.ids, N, D);
    if (g) this.release(g);
  }
}

/** A weight of this model's own parameters (float32 views), rather than a borrowed backend matrix. */
function isParam(W: Matrix): W is ParamMatrix {
  return (W as Partial<ParamMatrix>).data instanceof Float32Array;
}

/** Float32 rows of a base weight, own or borrowed. */
export function weightRows(be: Backend, W: Matrix): RowReader {
  if (!isParam(W)) return backendRows(be, W);
  const d = W.data, cols = W.cols;
  return (r0, n, out) => out.set(d.subarray(r0 * cols, (r0 + n) * cols));
}

/** HF causal-LM labels (B, T) -> position-aligned targets: targets[b, t] = labels[b, t + 1], last = -100. */
export function hfTargets(labels: ArrayLike<number>, B: number, T: number): Int32Array {
  const out = new Int32Array(B * T).fill(-100);
  for (let b = 0; b < B; b++) for (let t = 0; t + 1 < T; t++) out[b * T + t] = labels[b * T + t + 1];
  return out;
}
