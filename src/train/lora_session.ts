// LoRA fine-tuning of a loaded model, in memory and a step at a time: what the browser's engine worker runs
// (src/worker/engine_host.ts). The adapter trains over the inference model's own weights
// (TrainableOpenELM.overWeights: no second copy of the base, any stored dtype), on pasted text (language
// modeling on packed windows) or instruction examples (JSON lines in the formats of sft_data.ts: the loss on
// the replies only). The step is finetune.ts's: AdamW with CoreNet's PEFT settings, gradient clipping,
// CoreNet's cosine schedule, adapter dropout. Environment-neutral: no file system.

import { DataError, InputError } from "../errors.js";
import { LORA_TARGETS, type PeftAdapter } from "../io/peft_adapter.js";
import { newPeftAdapter } from "../models/adapter.js";
import type { OpenELMModel } from "../models/openelm.js";
import { Rng } from "../tensor/rng.js";
import type { Tokenizer } from "../tokenizer/sentencepiece.js";
import { AdamW } from "./adamw.js";
import { clipGradNorm } from "./grad_clip.js";
import { hfTargets, TrainableOpenELM, weightRows } from "./openelm_train.js";
import { corenetLr, type CosineSchedule } from "./schedule.js";
import { epochSequences, type Sequence } from "./sequences.js";
import { encodeConversation, IGNORE_INDEX, parseRecords, sftConversations, type TokenizedExample } from "./sft_data.js";

/** What the data turned out to be, and its tokenised examples. */
export interface TrainingData {
  /** "text": one document, every token scored; "sft": conversations, the replies scored. */
  format: "text" | "sft";
  examples: TokenizedExample[];
  /** Tokens over all examples. */
  tokens: number;
}

/**
 * Pasted training data: JSON lines of instruction / chat records (sft_data.ts's formats), or a JSON array of
 * them, when the first non-blank line is a JSON object (or the text a JSON array); otherwise plain text.
 * `where` names the data in errors (DataError: a bad record names where:line).
 */
export function trainingData(tok: Tokenizer, text: string, where = "training data", template?: string): TrainingData {
  const trimmed = text.trim();
  if (trimmed === "") throw new DataError(`${where}: empty; paste text, or instruction examples as JSON lines`);
  const first = trimmed.split("\n", 1)[0].trim();
  const isJsonObject = (s: string) => { try { const v = JSON.parse(s); return typeof v === "object" && v !== null && !Array.isArray(v); } catch { return false; } };
  const format = trimmed.startsWith("[") && (() => { try { return Array.isArray(JSON.parse(trimmed)); } catch { return false; } })() ? "json"
    : isJsonObject(first) ? "jsonl" : null;
  if (format === null) {
    const ids = [...tok.encode(text), tok.eosId];
    return { format: "text", examples: [{ ids, labels: ids.slice() }], tokens: ids.length };
  }
  const examples: TokenizedExample[] = [];
  for (const { value, where: at } of parseRecords(text, where, format))
    for (const messages of sftConversations(value, at)) {
      const e = encodeConversation(tok, messages, { template, where: at });
      if (e.labels.some((l) => l !== IGNORE_INDEX)) examples.push(e);
    }
  if (!examples.length) throw new DataError(`${where}: no example with an assistant reply to learn from`);
  return { format: "sft", examples, tokens: examples.reduce((a, e) => a + e.ids.length, 0) };
}

export interface LoraSessionOptions {
  /** Optimizer steps. */
  steps: number;
  /** LoRA rank and alpha (default 2·r); every Linear of every layer is adapted (PEFT's target_modules). */
  r: number;
  alpha?: number;
  /** Peak learning rate; the schedule decays it to a tenth by the last step (CoreNet's cosine). */
  lr: number;
  /** Sequences a step (default 4; fewer when the data has fewer). */
  batchSize?: number;
  /** Longest training sequence (default 128, at most the model's context). Text is cut into windows of it. */
  contextLength?: number;
  /** Adapter dropout (default 0.05, as CoreNet's PEFT recipe). */
  dropout?: number;
  /** Seeds the adapter's initial A, the data order and the dropout masks (default 0). */
  seed?: number;
  /** Written to the adapter's base_model_name_or_path. */
  baseModel?: string;
}

export interface StepResult {
  step: number;
  loss: number;
  lr: number;
  gradNorm: number;
  /** Scored tokens in this step. */
  tokens: number;
}

/** One LoRA run on a loaded model: construct, call step() `steps` times (or fewer: stop any time), snapshot(). */
export class LoraSession {
  readonly model: TrainableOpenELM;
  /** Sequence length and sequences a step, as chosen from the data. */
  readonly T: number;
  readonly B: number;
  /** Sequences in one pass over the data. */
  readonly sequences: number;
  /** Trainable parameters (the adapter's). */
  readonly trainableParams: number;
  private readonly opt: AdamW;
  private readonly rng: Rng;
  private readonly schedule: CosineSchedule;
  private epoch = 0;
  private position = 0;
  private epochSeqs: Sequence[];
  private stepsDone = 0;
  private readonly eosId: number;
  private readonly seed: number;
  private readonly packing: boolean;

  /**
   * net: the loaded model (its weights are borrowed, never written); eosId pads SFT examples. over: the
   * trainable view of net from an earlier session, to reuse its buffers (a host running one run after another).
   */
  constructor(net: OpenELMModel, eosId: number, private readonly data: TrainingData, readonly options: LoraSessionOptions,
    over?: TrainableOpenELM) {
    const c = net.config, o = options;
    if (net.backend.read) throw new InputError(`fine-tuning runs on the wasm or ref backend, not ${net.backend.name}; load the model with the wasm backend`);
    if (!Number.isInteger(o.steps) || o.steps < 1) throw new InputError(`steps ${o.steps}: expected a whole number ≥ 1`);
    if (!Number.isInteger(o.r) || o.r < 1) throw new InputError(`rank ${o.r}: expected a whole number ≥ 1`);
    if (!(o.lr > 0 && o.lr < 1)) throw new InputError(`learning rate ${o.lr}: expected a number between 0 and 1`);
    if (o.batchSize !== undefined && (!Number.isInteger(o.batchSize) || o.batchSize < 1)) throw new InputError(`batch size ${o.batchSize}: expected a whole number ≥ 1`);
    const maxT = Math.min(o.contextLength ?? 128, c.max_context_length);
    if (!Number.isInteger(maxT) || maxT < 2) throw new InputError(`context length ${o.contextLength}: expected a whole number ≥ 2`);
    const packing = data.format === "text";
    // text: windows of maxT, shorter when the text is (one window of all of it); SFT: padded to the longest example
    this.T = packing ? Math.min(maxT, data.tokens) : Math.min(maxT, Math.max(...data.examples.map((e) => e.ids.length)));
    if (this.T < 2) throw new DataError("training data: too short; it needs at least one token besides the start of text");
    this.eosId = eosId;
    this.seed = o.seed ?? 0;
    this.packing = packing;
    this.epochSeqs = this.epochAt(0);
    this.sequences = this.epochSeqs.length;
    this.B = Math.max(1, Math.min(o.batchSize ?? 4, this.sequences));
    this.rng = new Rng(this.seed);
    if (over && over.weights !== net.weights) throw new InputError("LoraSession: `over` is a view of another model");
    this.model = over ?? TrainableOpenELM.overWeights(c, net.weights, net.backend);
    const peft = newPeftAdapter(c, { r: o.r, alpha: o.alpha ?? 2 * o.r, dropout: o.dropout ?? 0.05, targets: LORA_TARGETS, baseModel: o.baseModel ?? null },
      this.rng, (i, t) => weightRows(net.backend, net.weights.layers[i][t]));
    const adapter = this.model.attachAdapter(peft);
    this.trainableParams = adapter.layout.total;
    this.opt = new AdamW(adapter.layout, { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0 });
    this.schedule = { max_lr: o.lr, min_lr: o.lr / 10, warmup_iterations: 0, max_iterations: o.steps, warmup_init_lr: o.lr };
  }
  private epochAt(epoch: number): Sequence[] {
    return epochSequences(this.data.examples, this.T, this.packing, this.eosId, this.seed, epoch);
  }

  get step(): number { return this.stepsDone; }
  get done(): boolean { return this.stepsDone >= this.options.steps; }

  /** One optimizer step on the next B sequences (a new epoch, reshuffled, when the data runs out). */
  next(): StepResult {
    if (this.done) throw new InputError(`the run has done its ${this.options.steps} steps`);
    const { B, T, model } = this, a = model.adapter!;
    if (this.position + B > this.epochSeqs.length) { this.epoch++; this.position = 0; this.epochSeqs = this.epochAt(this.epoch); }
    const ids = new Int32Array(B * T), labels = new Int32Array(B * T);
    this.epochSeqs.slice(this.position, this.position + B).forEach((q, b) => { ids.set(q.ids, b * T); labels.set(q.labels, b * T); });
    this.position += B;
    const lr = corenetLr(this.stepsDone, this.schedule, false);
    model.zeroGrad();
    model.dropoutSeed = this.rng.nextU32();
    const r = model.forward(ids, hfTargets(labels, B, T), B, T, 0);
    model.backward();
    const { norm } = clipGradNorm(a.grads, 1.0);
    if (!Number.isFinite(r.ce) || !Number.isFinite(norm)) throw new InputError(`step ${this.stepsDone + 1}: loss is ${r.ce}, gradient norm ${norm}; try a lower learning rate`);
    this.opt.update(a.params, a.grads, lr);
    this.stepsDone++;
    return { step: this.stepsDone, loss: r.ce, lr, gradNorm: norm, tokens: r.count };
  }

  /** The adapter as trained so far (copies), in PEFT's form. */
  snapshot(): PeftAdapter {
    return this.model.adapterSnapshot();
  }
}
