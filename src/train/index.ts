// openelm-ts/train: the training API. Load a checkpoint as a trainable model, attach a LoRA / DoRA adapter from
// a PEFT config, compute loss and gradients for a batch of ids and labels (Hugging Face semantics: labels are
// the inputs, shifted inside, −100 ignored), clip, AdamW, CoreNet's learning-rate schedule, save; plus the
// pre-training (train, with its recipes, token data and HF-layout checkpoints) and fine-tuning (finetune, DPO)
// loops the CLI runs.
//
//   const model = loadTrainable("model-dir", { backend: await createWasmBackend(), frozen: true });
//   const adapter = attachPeft(model, { r: 8, alpha: 16 });
//   const opt = new AdamW(adapter.layout, { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0 });
//   model.zeroGrad();
//   const { loss } = lossAndGradients(model, ids, labels, B, T);
//   clipGradNorm(adapter.grads, 1.0);
//   opt.update(adapter.params, adapter.grads, corenetLr(step, schedule));
//   saveTrainable(model, "out/adapter");

import * as fs from "node:fs";
import * as path from "node:path";
import { writeFileAtomic } from "../io/atomic_write.js";
import { readCheckpoint } from "../io/model_dir.js";
import { readPeftAdapter, writePeftAdapter, type AdapterOptions, type LoraTarget } from "../io/peft_adapter.js";
import { writeSafetensors } from "../io/safetensors.js";
import type { Backend } from "../kernels/backend.js";
import { newPeftAdapter } from "../models/adapter.js";
import { configToJson } from "../models/config.js";
import { Rng } from "../tensor/rng.js";
import { hfTargets, TrainableOpenELM, type ParamMatrix, type TrainedAdapter } from "./openelm_train.js";
import { loadParams } from "./parameters.js";

export { TrainableOpenELM, hfTargets } from "./openelm_train.js";
export type { ForwardResult, ParamMatrix, TrainedAdapter } from "./openelm_train.js";
export { AdamW, OPENELM_ADAMW } from "./adamw.js";
export type { AdamWOptions } from "./adamw.js";
export { clipGradNorm, globalGradNorm } from "./grad_clip.js";
export { saveCheckpoint, readTrainerState, restoreCheckpoint, findCheckpoint } from "./checkpoint.js";
export { corenetLr } from "./schedule.js";
export type { CosineSchedule } from "./schedule.js";
export { dpoStep } from "./dpo.js";
export type { DpoResult } from "./dpo.js";
export { finetune, FINETUNE_DEFAULTS } from "./finetune.js";
export { LoraSession, trainingData } from "./lora_session.js";
export type { LoraSessionOptions, StepResult, TrainingData } from "./lora_session.js";
export type { FinetuneOptions, FinetuneSettings, FinetuneResult, FinetuneMethod } from "./finetune.js";
export { train, TrainingError } from "./trainer.js";
export type { TrainOptions, TrainResult } from "./trainer.js";
export { loadRecipe, parseRecipe, recipeNames, recipeSchedule } from "./recipe.js";
export type { Recipe } from "./recipe.js";
export { prepareData, openTokenData, PackedSampler } from "./data.js";
export { createWasmBackend, TRAINING_SPIN } from "../kernels/wasm/index.js";
export { createRefBackend } from "../kernels/ref/index.js";
export type { PeftAdapter, AdapterOptions, LoraTarget } from "../io/peft_adapter.js";

export interface LoadTrainableOptions {
  /** Where it runs (default: the reference backend; createWasmBackend() for the SIMD kernels). */
  backend?: Backend;
  /** Freeze every base tensor (LoRA / DoRA: no base gradients, no memory for them), or those named. */
  frozen?: boolean | ((name: string) => boolean);
}

/** A checkpoint directory (config.json + safetensors, any float dtype) as a float32 trainable model. */
export function loadTrainable(dir: string, o: LoadTrainableOptions = {}): TrainableOpenELM {
  const ck = readCheckpoint(dir);
  const frozen = o.frozen === true ? () => true : o.frozen === false ? undefined : o.frozen;
  const m = new TrainableOpenELM(ck.config, o.backend, frozen);
  loadParams(m.layout, m.params, ck.tensors, dir);
  return m;
}

/**
 * Attach a LoRA / DoRA adapter to train: an existing PEFT adapter directory, or a new one in PEFT's initial
 * state (B = 0, DoRA's magnitude = ‖W‖ per row) from AdapterOptions (r, alpha, dropout, targets, useDora).
 */
export function attachPeft(model: TrainableOpenELM, from: string | AdapterOptions, seed = 0): TrainedAdapter {
  if (typeof from === "string") return model.attachAdapter(readPeftAdapter(from, model.config));
  const rows = (i: number, t: LoraTarget) => {
    const W = model.weights.layers[i][t] as ParamMatrix;
    return (r0: number, n: number, out: Float32Array) => out.set(W.data.subarray(r0 * W.cols, (r0 + n) * W.cols));
  };
  return model.attachAdapter(newPeftAdapter(model.config, from, new Rng(seed), rows));
}

/**
 * Loss and gradients of one batch: ids and labels (B·T each, row-major) with HF causal-LM semantics (labels
 * shifted inside, −100 ignored, the mean over counted tokens). Gradients accumulate (call zeroGrad first) into
 * model.grads, or the adapter's grads; scale = 1 / micro-batches for gradient accumulation.
 */
export function lossAndGradients(model: TrainableOpenELM, ids: ArrayLike<number>, labels: ArrayLike<number>, B: number, T: number,
  o: { zLossCoef?: number; scale?: number } = {}): { loss: number; ce: number; zLoss: number; count: number } {
  const r = model.forward(ids, hfTargets(labels, B, T), B, T, o.zLossCoef ?? 0);
  model.backward(o.scale ?? 1);
  return { loss: r.ce + r.zLoss, ...r };
}

/**
 * Save: with an adapter attached, a PEFT adapter directory (adapter_config.json + adapter_model.safetensors);
 * otherwise a checkpoint directory (config.json + model.safetensors, float32) that loadModel and HF read.
 */
export function saveTrainable(model: TrainableOpenELM, dir: string): void {
  if (model.adapter) { writePeftAdapter(dir, model.adapterSnapshot()); return; }
  fs.mkdirSync(dir, { recursive: true });
  writeSafetensors(path.join(dir, "model.safetensors"), model.toTensors(), { format: "pt" });
  writeFileAtomic(path.join(dir, "config.json"), configToJson(model.config));
}
