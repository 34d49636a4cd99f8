// Supervised fine-tuning (SFT): chat-formatted examples (train/sft_data.ts) with the loss on assistant tokens
// only, full fine-tuning or a PEFT LoRA / DoRA adapter over a frozen base; or DPO (train/dpo.ts) on preference
// pairs, training the full model or an adapter against the frozen starting model. Sequences are padded (one example
// each) or packed (examples concatenated and cut, as TRL's packing) to context_length; a validation split is
// held out; metrics.jsonl, loss_curve.svg and atomic saves (OUT/checkpoint for full, OUT/adapter as a PEFT
// directory for LoRA / DoRA) as `openelm train`. Everything that decides the next step (weights, moments,
// step, epoch and position, RNG) is saved, so `--resume` reproduces an uninterrupted run bit for bit.

import * as fs from "node:fs";
import * as path from "node:path";
import type { Backend } from "../kernels/backend.js";
import { CheckpointError, ConfigError, DataError } from "../errors.js";
import { writeFileAtomic } from "../io/atomic_write.js";
import { readCheckpoint } from "../io/model_dir.js";
import { LORA_TARGETS, readPeftAdapter, writePeftAdapter, type LoraTarget } from "../io/peft_adapter.js";
import { newPeftAdapter } from "../models/adapter.js";
import { parameterCount } from "../models/config.js";
import { Rng } from "../tensor/rng.js";
import type { Tokenizer } from "../tokenizer/sentencepiece.js";
import { AdamW } from "./adamw.js";
import { configHash, readMoments, saveCheckpoint, writeDirAtomic, writeMoments } from "./checkpoint.js";
import { clipGradNorm } from "./grad_clip.js";
import { renderLossCurve, type MetricsRow } from "./loss_curve.js";
import { hfTargets, TrainableOpenELM } from "./openelm_train.js";
import { loadParams, type ParamLayout } from "./parameters.js";
import { corenetLr } from "./schedule.js";
import { encodeConversation, encodePreference, IGNORE_INDEX, readPreferenceFile, readSftFile, type TokenizedExample } from "./sft_data.js";
import { dpoStep } from "./dpo.js";
import { fmtDuration, readMetrics, TrainingError } from "./trainer.js";
import { epochSequences, shuffledOrder, type Sequence } from "./sequences.js";

export const FINETUNE_STATE_FORMAT = "openelm-finetune-state/1";

export type FinetuneMethod = "full" | "lora" | "dora" | "dpo";

export interface FinetuneSettings {
  method: FinetuneMethod;
  /** DPO: what it trains (the full model, or a LoRA / DoRA adapter whose base is the reference). */
  dpo_params: "full" | "lora" | "dora";
  /** DPO's β. */
  beta: number;
  /** Pack examples into full windows (true) or pad each example to context_length (false). */
  packing: boolean;
  context_length: number;
  batch_size: number;
  grad_accumulation: number;
  max_iterations: number;
  max_lr: number;
  min_lr: number;
  warmup_iterations: number;
  warmup_init_lr: number;
  weight_decay: number;
  betas: [number, number];
  eps: number;
  grad_clip: number;
  /** Held-out share of the examples when no validation file is given. */
  val_fraction: number;
  eval_every: number;
  eval_batches: number;
  save_every: number;
  log_every: number;
  seed: number;
  /** LoRA / DoRA: rank, alpha, dropout, target modules (PEFT names). */
  r: number;
  alpha: number;
  dropout: number;
  targets: LoraTarget[];
  /** A Jinja chat template (default: the tokenizer's chat format, see tokenizer/chat_template.ts). */
  template?: string;
}

/** CoreNet's PEFT recipe (projects/openelm/peft_configs): AdamW 0.9/0.95, weight decay 0, cosine 3e-4 → 3e-5. */
export const FINETUNE_DEFAULTS: FinetuneSettings = {
  method: "lora", dpo_params: "lora", beta: 0.1, packing: false, context_length: 512, batch_size: 4, grad_accumulation: 1, max_iterations: 1000,
  max_lr: 3e-4, min_lr: 3e-5, warmup_iterations: 100, warmup_init_lr: 1e-6, weight_decay: 0, betas: [0.9, 0.95],
  eps: 1e-8, grad_clip: 1.0, val_fraction: 0.05, eval_every: 100, eval_batches: 8, save_every: 500, log_every: 1,
  seed: 0, r: 8, alpha: 16, dropout: 0.05, targets: [...LORA_TARGETS],
};

interface FinetuneState {
  format: string;
  step: number;
  epoch: number;
  /** Sequences of the current epoch already used. */
  position: number;
  adam_step: number;
  rng: number[];
  tokens_seen: number;
  elapsed_s: number;
  config_sha256: string;
  settings: FinetuneSettings;
  last_loss: number | null;
  last_val_loss: number | null;
}

export interface FinetuneOptions {
  /** Base model directory (config.json + weights). */
  modelDir: string;
  /** Training examples: one file or several (their examples pooled, then shuffled together). */
  dataFile: string | string[];
  /** Validation examples (default: val_fraction of dataFile). */
  valFile?: string;
  outDir: string;
  tokenizer: Tokenizer;
  settings: FinetuneSettings;
  backend?: Backend;
  resume?: boolean;
  stopAfter?: number;
  onStatus?: (line: string, kind: "step" | "info") => void;
  control?: { stop: boolean };
}

export interface FinetuneResult { step: number; losses: number[]; lastValLoss: number | null; saved: string; stoppedEarly: boolean }

/** Tokenised examples of one or more data files, pooled in the order given. */
function readExamples(tok: Tokenizer, files: string | string[], s: FinetuneSettings): { examples: TokenizedExample[]; dropped: number } {
  const parts = (typeof files === "string" ? [files] : files).map((f) => readFileExamples(tok, f, s));
  return { examples: parts.flatMap((p) => p.examples), dropped: parts.reduce((n, p) => n + p.dropped, 0) };
}

/** Tokenised examples of an SFT file; those left with no scored token (after truncation) are dropped. */
function readFileExamples(tok: Tokenizer, file: string, s: FinetuneSettings): { examples: TokenizedExample[]; dropped: number } {
  if (s.method === "dpo") return readPairs(tok, file, s);
  const convs = readSftFile(file);
  const examples: TokenizedExample[] = [];
  let dropped = 0;
  for (const c of convs) {
    const e = encodeConversation(tok, c.messages, { template: s.template, maxLength: s.packing ? undefined : s.context_length });
    if (e.labels.some((l) => l !== IGNORE_INDEX)) examples.push(e); else dropped++;
  }
  if (!examples.length) throw new DataError(`${file}: no example with an assistant reply to learn from${dropped ? ` (${dropped} had none left after cutting to ${s.context_length} tokens)` : ""}`);
  return { examples, dropped };
}

/**
 * Preference pairs as examples of two sequences each: ids and labels of chosen then rejected, each cut to T
 * and padded to T (only the final reply scored). Pairs where either reply has no scored token left are dropped.
 */
function readPairs(tok: Tokenizer, file: string, s: FinetuneSettings): { examples: TokenizedExample[]; dropped: number } {
  const T = s.context_length, examples: TokenizedExample[] = [];
  let dropped = 0;
  for (const p of readPreferenceFile(file)) {
    const { chosen, rejected } = encodePreference(tok, p, { template: s.template, maxLength: T });
    if (!chosen.labels.some((l) => l !== IGNORE_INDEX) || !rejected.labels.some((l) => l !== IGNORE_INDEX)) { dropped++; continue; }
    const pad = (a: number[], v: number) => [...a, ...new Array<number>(T - a.length).fill(v)];
    examples.push({ ids: [...pad(chosen.ids, tok.eosId), ...pad(rejected.ids, tok.eosId)], labels: [...pad(chosen.labels, IGNORE_INDEX), ...pad(rejected.labels, IGNORE_INDEX)] });
  }
  if (!examples.length) throw new DataError(`${file}: no preference pair with both replies scored${dropped ? ` (${dropped} lost them to the ${T}-token cut)` : ""}`);
  return { examples, dropped };
}

export async function finetune(o: FinetuneOptions): Promise<FinetuneResult> {
  const s = o.settings, say = o.onStatus ?? (() => {});
  const T = s.context_length, B = s.batch_size, tok = o.tokenizer;
  const base = readCheckpoint(o.modelDir);
  const config = base.config;
  if (T > config.max_context_length) throw new ConfigError(`--context-length ${T} exceeds the model's max_context_length ${config.max_context_length}`);
  if (tok.vocabSize > config.vocab_size) throw new ConfigError(`${o.modelDir}: the tokenizer has ${tok.vocabSize} ids, the model's vocab_size is ${config.vocab_size}`);

  // data: a validation file, or a seeded share of the training file
  let { examples: train, dropped } = readExamples(tok, o.dataFile, s);
  let val: TokenizedExample[] = [];
  if (o.valFile) val = readExamples(tok, o.valFile, s).examples;
  else if (s.val_fraction > 0) {
    const k = Math.floor(train.length * s.val_fraction);
    const held = new Set(shuffledOrder(train.length, s.seed, 0xffffffff).slice(0, k));
    val = train.filter((_, i) => held.has(i));
    train = train.filter((_, i) => !held.has(i));
  }
  const dpo = s.method === "dpo", SEQ = dpo ? 2 * T : T; // DPO: a pair is one "sequence" of chosen | rejected
  const valSeqs = epochSequences(val, SEQ, dpo ? false : s.packing, tok.eosId, s.seed, null).slice(0, B * s.eval_batches);

  // model: the base, frozen under LoRA / DoRA
  const params0 = dpo ? s.dpo_params : s.method;
  const peftMode = params0 !== "full";
  const model = new TrainableOpenELM(config, o.backend, peftMode ? () => true : undefined);
  loadParams(model.layout, model.params, base.tensors, o.modelDir);
  const adapterDir = path.join(o.outDir, "adapter"), ckDir = path.join(o.outDir, "checkpoint");
  const saveDir = peftMode ? adapterDir : ckDir;
  const stateFile = path.join(saveDir, "trainer_state.json");
  let rng = new Rng(s.seed);
  let state: FinetuneState;
  const existing = fs.existsSync(stateFile);
  if (o.resume && !existing) throw new CheckpointError(`--resume: ${saveDir} holds no saved run (trainer_state.json) to resume from`);
  if (!o.resume && existing) throw new CheckpointError(`${o.outDir}: already holds a run (${saveDir}); pass --resume to continue it or choose another --out`);
  let saved: FinetuneState | null = null;
  if (o.resume) {
    saved = JSON.parse(fs.readFileSync(stateFile, "utf-8")) as FinetuneState;
    if (saved.format !== FINETUNE_STATE_FORMAT) throw new CheckpointError(`${stateFile}: field "format" is ${JSON.stringify(saved.format)}, expected "${FINETUNE_STATE_FORMAT}"`);
    if (saved.config_sha256 !== configHash(config)) throw new ConfigError(`--resume ${saveDir}: saved for another base model than ${o.modelDir}`);
    if (saved.settings.method !== s.method || saved.settings.dpo_params !== s.dpo_params)
      throw new ConfigError(`--resume ${saveDir}: saved with --method ${saved.settings.method}${saved.settings.method === "dpo" ? ` (${saved.settings.dpo_params})` : ""}, not ${s.method}`);
  }
  if (peftMode) {
    const rows = (i: number, t: LoraTarget) => {
      const W = model.weights.layers[i][t] as unknown as { data: Float32Array; cols: number };
      return (r0: number, n: number, out: Float32Array) => out.set(W.data.subarray(r0 * W.cols, (r0 + n) * W.cols));
    };
    model.attachAdapter(saved ? readPeftAdapter(adapterDir, config)
      : newPeftAdapter(config, { r: s.r, alpha: s.alpha, dropout: s.dropout, targets: s.targets, useDora: params0 === "dora", baseModel: path.resolve(o.modelDir) }, rng, rows));
  } else if (saved) loadParams(model.layout, model.params, readCheckpoint(ckDir).tensors, ckDir);
  const layout: ParamLayout = peftMode ? model.adapter!.layout : model.layout;
  const params = peftMode ? model.adapter!.params : model.params, grads = peftMode ? model.adapter!.grads : model.grads;
  const opt = new AdamW(layout, { beta1: s.betas[0], beta2: s.betas[1], eps: s.eps, weightDecay: s.weight_decay });
  if (saved) {
    readMoments(path.join(saveDir, "optimizer.safetensors"), layout, opt, saved.adam_step);
    rng = new Rng(saved.rng);
    state = { ...saved, settings: s };
    say(`resumed ${saveDir} at step ${state.step}`, "info");
  } else {
    state = { format: FINETUNE_STATE_FORMAT, step: 0, epoch: 0, position: 0, adam_step: 0, rng: rng.state(), tokens_seen: 0,
      elapsed_s: 0, config_sha256: configHash(config), settings: s, last_loss: null, last_val_loss: null };
  }
  // DPO with full fine-tuning: the reference is a frozen copy of the starting weights
  let reference: TrainableOpenELM | null = null;
  if (dpo && !peftMode) {
    reference = new TrainableOpenELM(config, o.backend, () => true);
    loadParams(reference.layout, reference.params, base.tensors, o.modelDir);
  }
  const packing = dpo ? false : s.packing;
  let epochSeqs = epochSequences(train, SEQ, packing, tok.eosId, s.seed, state.epoch);
  if (epochSeqs.length < B) throw new DataError(`${[o.dataFile].flat().join(", ")}: ${epochSeqs.length} training ${dpo ? "pairs" : `sequences of ${T} tokens`}, fewer than a batch of ${B}`);

  fs.mkdirSync(o.outDir, { recursive: true });
  const metricsFile = path.join(o.outDir, "metrics.jsonl");
  let metrics: Array<MetricsRow & Record<string, unknown>> = [];
  if (o.resume && fs.existsSync(metricsFile)) metrics = readMetrics(metricsFile).filter((m) => m.step <= state.step);
  writeFileAtomic(metricsFile, metrics.map((m) => JSON.stringify(m) + "\n").join(""));
  const logMetric = (row: MetricsRow & Record<string, unknown>) => { metrics.push(row); fs.appendFileSync(metricsFile, JSON.stringify(row) + "\n"); };

  const batch = (seqs: Sequence[]) => {
    const rows = dpo ? 2 * B : B, ids = new Int32Array(rows * T), labels = new Int32Array(rows * T);
    seqs.forEach((q, b) => {
      if (!dpo) { ids.set(q.ids, b * T); labels.set(q.labels, b * T); return; }
      ids.set(q.ids.subarray(0, T), b * T); labels.set(q.labels.subarray(0, T), b * T);                 // chosen
      ids.set(q.ids.subarray(T), (B + b) * T); labels.set(q.labels.subarray(T), (B + b) * T);           // rejected
    });
    return { ids, targets: hfTargets(labels, rows, T) };
  };
  /** Validation: SFT's token-weighted ce, or DPO's mean loss with reward accuracy and margin. */
  const evaluate = (): { loss: number; accuracy?: number; margin?: number } => {
    model.dropoutSeed = null;
    let sum = 0, n = 0, acc = 0, margin = 0, batches = 0;
    for (let i = 0; i + B <= valSeqs.length; i += B) {
      const { ids, targets } = batch(valSeqs.slice(i, i + B));
      if (dpo) {
        const r = dpoStep(model, reference, ids, targets, B, T, s.beta, false);
        sum += r.loss; acc += r.accuracy; margin += r.margin; batches++;
      } else {
        const r = model.forward(ids, targets, B, T, 0);
        sum += r.ce * r.count; n += r.count;
      }
    }
    if (dpo) return batches ? { loss: sum / batches, accuracy: acc / batches, margin: margin / batches } : { loss: NaN };
    return { loss: n ? sum / n : NaN };
  };
  const save = () => {
    state.adam_step = opt.step; state.rng = rng.state();
    if (peftMode) {
      const snap = model.adapterSnapshot();
      writeDirAtomic(adapterDir, (tmp) => {
        writePeftAdapter(tmp, snap);
        writeMoments(path.join(tmp, "optimizer.safetensors"), layout, opt);
        writeFileAtomic(path.join(tmp, "trainer_state.json"), JSON.stringify(state, null, 2) + "\n");
      });
    } else saveCheckpoint(ckDir, config, layout, params, opt, state);
    fs.writeFileSync(path.join(o.outDir, "loss_curve.svg"), renderLossCurve(metrics, `finetune ${s.method}: ${(parameterCount(config) / 1e6).toFixed(1)}M parameters`));
  };

  say(`${s.method}: ${(layout.total / 1e6).toFixed(3)}M trainable of ${(parameterCount(config) / 1e6).toFixed(2)}M; ` +
    `data ${train.length} train / ${val.length} val ${dpo ? "pairs" : "examples"}${dropped ? ` (${dropped} without a scored token dropped)` : ""}, ` +
    (dpo ? `${epochSeqs.length} pairs, β ${s.beta}, reference: ${peftMode ? "the base without the adapter" : "the starting weights"};` : `${epochSeqs.length} sequences of ${T} (${s.packing ? "packed" : "padded"});`) + ` ${B}×${T}×${s.grad_accumulation} tokens a step`, "info");
  if (s.eval_every && !valSeqs.length) say(`no validation: fewer than ${B} validation sequences (use --val-data or a larger --val-fraction)`, "info");
  const schedule = { max_lr: s.max_lr, min_lr: s.min_lr, warmup_iterations: s.warmup_iterations, max_iterations: s.max_iterations, warmup_init_lr: s.warmup_init_lr };
  const losses: number[] = [];
  const runStart = performance.now();
  let stepsThisRun = 0, stopped = false;
  while (state.step < s.max_iterations) {
    if (o.control?.stop || (o.stopAfter !== undefined && stepsThisRun >= o.stopAfter)) { stopped = true; break; }
    const t0 = performance.now();
    const lr = corenetLr(state.step, schedule);
    model.zeroGrad();
    let loss = 0, tokens = 0, acc = 0, margin = 0;
    for (let k = 0; k < s.grad_accumulation; k++) {
      if (state.position + B > epochSeqs.length) { // next epoch
        state.epoch++; state.position = 0;
        epochSeqs = epochSequences(train, SEQ, packing, tok.eosId, s.seed, state.epoch);
      }
      const { ids, targets } = batch(epochSeqs.slice(state.position, state.position + B));
      state.position += B;
      model.dropoutSeed = rng.nextU32();
      if (dpo) {
        const r = dpoStep(model, reference, ids, targets, B, T, s.beta, true, 1 / s.grad_accumulation);
        loss += r.loss / s.grad_accumulation; acc += r.accuracy / s.grad_accumulation; margin += r.margin / s.grad_accumulation;
        tokens += 2 * B * T;
      } else {
        const r = model.forward(ids, targets, B, T, 0);
        loss += r.ce / s.grad_accumulation; tokens += r.count;
        model.backward(1 / s.grad_accumulation);
      }
    }
    const { norm } = s.grad_clip > 0 ? clipGradNorm(grads, s.grad_clip) : { norm: NaN };
    if (!Number.isFinite(loss) || (s.grad_clip > 0 && !Number.isFinite(norm)))
      throw new TrainingError(`step ${state.step + 1}: loss is ${loss}, gradient norm ${norm}; stopped without saving (the last save in ${saveDir} is left as it was)`);
    opt.update(params, grads, lr);
    state.step++; stepsThisRun++;
    state.tokens_seen += tokens;
    const dt = (performance.now() - t0) / 1000;
    state.elapsed_s += dt; state.last_loss = loss;
    losses.push(loss);
    logMetric({ step: state.step, loss, ...(dpo ? { reward_accuracy: acc, reward_margin: margin } : {}), lr, grad_norm: norm, epoch: state.epoch, tokens: state.tokens_seen, tokens_per_s: Math.round((B * T * s.grad_accumulation) / dt), elapsed_s: Math.round(state.elapsed_s * 10) / 10 });
    if (state.step % s.log_every === 0 || state.step === s.max_iterations) {
      const avg = (performance.now() - runStart) / 1000 / stepsThisRun;
      say(`step ${state.step}/${s.max_iterations} | loss ${loss.toFixed(4)}${dpo ? ` | reward acc ${acc.toFixed(2)} margin ${margin.toFixed(3)}` : ""} | lr ${lr.toExponential(2)} | grad ${norm.toFixed(3)} | epoch ${state.epoch} | ${Math.round((B * T * s.grad_accumulation) / dt)} tok/s | ETA ${fmtDuration(avg * (s.max_iterations - state.step))}`, "step");
    }
    if (s.eval_every && state.step % s.eval_every === 0 && valSeqs.length >= B) {
      const v = evaluate(), vl = v.loss;
      state.last_val_loss = vl;
      if (dpo) {
        logMetric({ step: state.step, val_loss: vl, val_reward_accuracy: v.accuracy, val_reward_margin: v.margin });
        say(`step ${state.step}: validation DPO loss ${vl.toFixed(4)}, reward accuracy ${v.accuracy!.toFixed(3)}, margin ${v.margin!.toFixed(4)}`, "info");
      } else {
        logMetric({ step: state.step, val_loss: vl, val_ppl: Math.exp(vl) });
        say(`step ${state.step}: validation loss ${vl.toFixed(4)}, perplexity ${Math.exp(vl).toFixed(2)}`, "info");
      }
    }
    if (s.save_every && state.step % s.save_every === 0 && state.step < s.max_iterations) save();
    await new Promise((res) => setImmediate(res)); // let Ctrl-C reach the handler between steps
  }
  if (stepsThisRun > 0 || !fs.existsSync(stateFile)) save();
  say(`${stopped ? "stopped" : "finished"} at step ${state.step}; ${peftMode ? "adapter" : "checkpoint"} ${saveDir}`, "info");
  return { step: state.step, losses, lastValLoss: state.last_val_loss, saved: saveDir, stoppedEarly: stopped };
}
