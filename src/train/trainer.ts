// The training loop: recipe + prepared data -> checkpoints, metrics.jsonl and loss_curve.svg in OUT.
// One optimizer step = grad_accumulation micro-batches (forward, ce + z-loss, backward scaled by
// 1 / grad_accumulation), global-norm clipping, AdamW at CoreNet's learning rate for that step.
// Everything that decides the next step (weights, moments, step, sampler position, RNG) is in the
// checkpoint, so `--resume` reproduces the losses of an uninterrupted run bit for bit.

import * as fs from "node:fs";
import * as path from "node:path";
import { CheckpointError, ConfigError, DataError, OpenELMError } from "../errors.js";
import { writeFileAtomic } from "../io/atomic_write.js";
import { readCheckpoint } from "../io/model_dir.js";
import { parameterCount } from "../models/config.js";
import { AdamW } from "./adamw.js";
import type { Backend } from "../kernels/backend.js";
import { configHash, findCheckpoint, readTrainerState, restoreCheckpoint, saveCheckpoint, TRAINER_STATE_FORMAT, type TrainerState } from "./checkpoint.js";
import { openTokenData, PackedSampler, validationBatches } from "./data.js";
import { clipGradNorm } from "./grad_clip.js";
import { renderLossCurve, type MetricsRow } from "./loss_curve.js";
import { TrainableOpenELM } from "./openelm_train.js";
import { initParams, loadParams } from "./parameters.js";
import { recipeSchedule, type LoadedRecipe } from "./recipe.js";
import { Rng } from "../tensor/rng.js";
import { corenetLr } from "./schedule.js";

/** A run that cannot continue (non-finite loss or gradient); the last good checkpoint is left as it was. */
export class TrainingError extends OpenELMError { override name = "TrainingError"; }

export interface TrainOptions {
  recipe: LoadedRecipe;
  dataDir: string;
  outDir: string;
  resume?: boolean;
  /** Stop (and save) after this many optimizer steps in this invocation. */
  stopAfter?: number;
  /** Where the model runs (its training kernels); default the reference backend. */
  backend?: Backend;
  /** Status lines (one per log_every steps, validation results, saves). */
  onStatus?: (line: string, kind: "step" | "info") => void;
  /** Set .stop = true (e.g. from a SIGINT handler) to save and exit after the current step. */
  control?: { stop: boolean };
}

export interface TrainResult {
  step: number;
  /** Training loss (ce + z-loss, mean over micro-batches) of each step run in this invocation. */
  losses: number[];
  lastValLoss: number | null;
  checkpointDir: string;
  stoppedEarly: boolean;
  /** The trained parameters (flat, layout order), as they are in memory at the end. */
  params: Float32Array;
}

export function fmtDuration(s: number): string {
  if (!Number.isFinite(s)) return "?";
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.floor(s % 60);
  return h ? `${h}h${String(m).padStart(2, "0")}m` : m ? `${m}m${String(sec).padStart(2, "0")}s` : `${sec}s`;
}

export async function train(o: TrainOptions): Promise<TrainResult> {
  const { recipe: r, config, file: recipeFile } = o.recipe;
  const say = o.onStatus ?? (() => {});
  const ckDir = path.join(o.outDir, "checkpoint");
  const T = r.context_length, B = r.batch_size;
  if (T > config.max_context_length)
    throw new ConfigError(`${recipeFile}: context_length ${T} exceeds the model's max_context_length ${config.max_context_length}`);
  const data = openTokenData(o.dataDir);
  if (data.index.tokenizer.vocab_size > config.vocab_size)
    throw new DataError(`${o.dataDir}: tokenized with a vocabulary of ${data.index.tokenizer.vocab_size}, the model's vocab_size is ${config.vocab_size}`);

  const model = new TrainableOpenELM(config, o.backend);
  model.checkpointActivations = r.activation_checkpointing;
  const opt = new AdamW(model.layout, { beta1: r.betas[0], beta2: r.betas[1], eps: r.eps, weightDecay: r.weight_decay });
  const sampler = new PackedSampler(data.train, T, r.seed);
  let rng = new Rng(r.seed);
  let state: TrainerState;
  const existing = findCheckpoint(ckDir);
  if (o.resume) {
    if (!existing) throw new CheckpointError(`--resume: ${ckDir} holds no checkpoint (trainer_state.json) to resume from`);
    const ck = readTrainerState(existing);
    if (configHash(ck.config) !== configHash(config)) {
      const diff = (["vocab_size", "num_transformer_layers", "model_dim", "head_dim", "num_query_heads", "num_kv_heads", "ffn_multipliers"] as const)
        .find((k) => JSON.stringify(ck.config[k]) !== JSON.stringify(config[k]));
      throw new ConfigError(`--resume ${existing}: the checkpoint is of another model config than ${recipeFile}` +
        (diff ? ` (${diff} ${JSON.stringify(ck.config[diff])} vs ${JSON.stringify(config[diff])})` : ""));
    }
    restoreCheckpoint(existing, model.layout, model.params, opt, ck.state.adam_step);
    state = ck.state;
    // a resumed run may change the schedule or intervals on purpose (e.g. max_iterations); say so
    const changed = (Object.keys(r) as Array<keyof typeof r>).filter((k) => k !== "description" && k !== "model" &&
      JSON.stringify(r[k]) !== JSON.stringify((state.recipe as unknown as Record<string, unknown>)?.[k]));
    if (changed.length) say(`--resume: recipe changed since the checkpoint: ${changed.map((k) =>
      `${k} ${JSON.stringify((state.recipe as unknown as Record<string, unknown>)?.[k])} → ${JSON.stringify(r[k])}`).join(", ")}`, "info");
    state.recipe = r;
    sampler.position = state.data_position;
    rng = new Rng(state.rng);
    say(`resumed ${existing} at step ${state.step}`, "info");
  } else {
    if (existing) throw new CheckpointError(`${o.outDir}: already holds a checkpoint (${existing}); pass --resume to continue it or choose another --out`);
    if (r.init_from) {
      const dir = path.resolve(path.dirname(recipeFile), r.init_from);
      const ck = readCheckpoint(dir);
      if (configHash(ck.config) !== configHash(config)) throw new ConfigError(`${recipeFile}: init_from ${dir} is of another model config than the recipe's model`);
      loadParams(model.layout, model.params, ck.tensors, dir);
    } else initParams(model.layout, model.params, config, rng);
    state = {
      format: TRAINER_STATE_FORMAT, step: 0, data_position: 0, adam_step: 0, rng: rng.state(), tokens_seen: 0,
      elapsed_s: 0, config_sha256: configHash(config), recipe: r, last_loss: null, last_val_loss: null,
    };
  }
  fs.mkdirSync(o.outDir, { recursive: true });
  writeFileAtomic(path.join(o.outDir, "recipe.json"), JSON.stringify({ ...r, model: r.model }, null, 2) + "\n");

  // metrics.jsonl: on resume, forget rows past the checkpoint (a crashed run may have logged further)
  const metricsFile = path.join(o.outDir, "metrics.jsonl");
  let metrics: Array<MetricsRow & Record<string, unknown>> = [];
  if (fs.existsSync(metricsFile) && o.resume)
    metrics = readMetrics(metricsFile).filter((m) => m.step <= state.step);
  writeFileAtomic(metricsFile, metrics.map((m) => JSON.stringify(m) + "\n").join(""));
  const logMetric = (row: MetricsRow & Record<string, unknown>) => { metrics.push(row); fs.appendFileSync(metricsFile, JSON.stringify(row) + "\n"); };

  const valSets = validationBatches(data.val, T, B, r.eval_batches);
  if (r.eval_every && !valSets.length)
    say(`no validation: the data's validation split has ${data.val.length} tokens, fewer than ${B} sequences of ${T + 1} (prepare with --val-fraction or --val-input)`, "info");
  const evaluate = (): number => {
    let sum = 0, n = 0;
    for (const vb of valSets) {
      const res = model.forward(vb.ids, vb.targets, B, T, 0);
      sum += res.ce * res.count; n += res.count;
    }
    return n ? sum / n : NaN;
  };
  const save = () => {
    state.data_position = sampler.position; state.adam_step = opt.step; state.rng = rng.state();
    saveCheckpoint(ckDir, config, model.layout, model.params, opt, state);
    writeFileAtomic(path.join(o.outDir, "loss_curve.svg"), renderLossCurve(metrics, `${path.basename(recipeFile)}: ${(parameterCount(config) / 1e6).toFixed(1)}M parameters`));
  };

  say(`model ${(parameterCount(config) / 1e6).toFixed(2)}M parameters, ${(model.layout.total * 16 / 2 ** 20).toFixed(0)} MiB weights+grads+moments; ` +
    `data ${data.train.length} train / ${data.val.length} val tokens; ${B}×${T}×${r.grad_accumulation} tokens a step`, "info");
  const schedule = recipeSchedule(r);
  const losses: number[] = [];
  const tokensPerStep = B * T * r.grad_accumulation;
  const runStart = performance.now();
  let stepsThisRun = 0, stopped = false;
  while (state.step < r.max_iterations) {
    if (o.control?.stop) { stopped = true; break; }
    if (o.stopAfter !== undefined && stepsThisRun >= o.stopAfter) { stopped = true; break; }
    const t0 = performance.now();
    const lr = corenetLr(state.step, schedule);
    model.zeroGrad();
    let loss = 0, ce = 0, z = 0;
    const ids = new Int32Array(B * T), targets = new Int32Array(B * T);
    for (let k = 0; k < r.grad_accumulation; k++) {
      sampler.next(B, ids, targets);
      const res = model.forward(ids, targets, B, T, r.z_loss_coef);
      loss += (res.ce + res.zLoss) / r.grad_accumulation; ce += res.ce / r.grad_accumulation; z += res.zLoss / r.grad_accumulation;
      model.backward(1 / r.grad_accumulation);
    }
    const { norm } = r.grad_clip > 0 ? clipGradNorm(model.grads, r.grad_clip) : { norm: NaN };
    if (!Number.isFinite(loss) || (r.grad_clip > 0 && !Number.isFinite(norm)))
      throw new TrainingError(`step ${state.step + 1}: loss is ${loss}, gradient norm ${norm}; stopped without saving (the last good checkpoint in ${ckDir} is left as it was)`);
    opt.update(model.params, model.grads, lr);
    state.step++; stepsThisRun++;
    state.tokens_seen += tokensPerStep;
    const dt = (performance.now() - t0) / 1000;
    state.elapsed_s += dt;
    state.last_loss = loss;
    losses.push(loss);
    const tps = tokensPerStep / dt;
    logMetric({ step: state.step, loss, ce, z_loss: z, lr, grad_norm: norm, tokens: state.tokens_seen, tokens_per_s: Math.round(tps), elapsed_s: Math.round(state.elapsed_s * 10) / 10 });
    if (state.step % r.log_every === 0 || state.step === r.max_iterations) {
      const avg = (performance.now() - runStart) / 1000 / stepsThisRun;
      say(`step ${state.step}/${r.max_iterations} | loss ${loss.toFixed(4)} | lr ${lr.toExponential(2)} | grad ${norm.toFixed(3)} | ${Math.round(tps)} tok/s | ETA ${fmtDuration(avg * (r.max_iterations - state.step))}`, "step");
    }
    if (r.eval_every && state.step % r.eval_every === 0 && valSets.length) {
      const vl = evaluate();
      state.last_val_loss = vl;
      logMetric({ step: state.step, val_loss: vl, val_ppl: Math.exp(vl) });
      say(`step ${state.step}: validation loss ${vl.toFixed(4)}, perplexity ${Math.exp(vl).toFixed(2)}`, "info");
    }
    if (r.save_every && state.step % r.save_every === 0 && state.step < r.max_iterations) save();
    await new Promise((res) => setImmediate(res)); // let Ctrl-C reach the handler between steps
  }
  if (stepsThisRun > 0 || !findCheckpoint(ckDir)) save();
  say(`${stopped ? "stopped" : "finished"} at step ${state.step}; checkpoint ${ckDir}`, "info");
  return { step: state.step, losses, lastValLoss: state.last_val_loss, checkpointDir: ckDir, stoppedEarly: stopped, params: model.params };
}

/**
 * The rows of metrics.jsonl. A last line cut short (a run killed while appending) is dropped; any other
 * line that is not JSON is an error naming the file and line.
 */
export function readMetrics(file: string): Array<MetricsRow & Record<string, unknown>> {
  const lines = fs.readFileSync(file, "utf-8").split("\n");
  const rows: Array<MetricsRow & Record<string, unknown>> = [];
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    try { rows.push(JSON.parse(line)); } catch (e) {
      if (i === lines.length - 1) return; // no trailing newline: the append was interrupted
      throw new DataError(`${file}:${i + 1}: not JSON (${(e as Error).message})`);
    }
  });
  return rows;
}
