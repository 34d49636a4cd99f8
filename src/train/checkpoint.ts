// Training checkpoints: OUT/checkpoint/ in the HF layout (config.json, generation_config.json,
// model.safetensors with the float32 master weights, so `openelm generate --model OUT/checkpoint`, PyTorch
// and transformers load it) plus optimizer.safetensors (AdamW moments) and trainer_state.json (step,
// data position, RNG, recipe). The directory is written under a temporary name and swapped in by
// rename, so a crash or a failed run never leaves a half-written or overwritten last good checkpoint.

import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { CheckpointError } from "../errors.js";
import { removeStaleTemps, writeFileAtomic } from "../io/atomic_write.js";
import { readSafetensors, writeSafetensors } from "../io/safetensors.js";
import { configToJson, parseConfig, type OpenELMConfig } from "../models/config.js";
import type { StoredTensor } from "../tensor/tensor.js";
import type { AdamW } from "./adamw.js";
import { loadParams, type ParamLayout } from "./parameters.js";
import type { Recipe } from "./recipe.js";

export const TRAINER_STATE_FORMAT = "openelm-trainer-state/1";

export interface TrainerState {
  format: string;
  /** Optimizer steps done. */
  step: number;
  /** Sequences drawn from the training sampler so far. */
  data_position: number;
  /** AdamW's step counter (bias correction). */
  adam_step: number;
  /** State of the trainer's RNG (xoshiro128**). */
  rng: number[];
  tokens_seen: number;
  elapsed_s: number;
  /** SHA-256 of config.json as written, to refuse resuming with another model. */
  config_sha256: string;
  recipe: Recipe;
  last_loss: number | null;
  last_val_loss: number | null;
}

export function configHash(c: OpenELMConfig): string {
  return createHash("sha256").update(configToJson(c)).digest("hex");
}

function f32Tensor(name: string, shape: number[], v: Float32Array): StoredTensor {
  const data = new Uint8Array(v.length * 4);
  new Float32Array(data.buffer).set(v);
  return { name, dtype: "f32", shape, data };
}

/**
 * Write directory dir atomically: write(tmp) fills DIR.tmp-PID, which is then swapped in by renames (a crash
 * mid-swap leaves DIR.old, which findCheckpoint picks up).
 */
export function writeDirAtomic(dir: string, write: (tmp: string) => void): void {
  const parent = path.dirname(dir), base = path.basename(dir);
  const tmp = path.join(parent, `.${base}.tmp-${process.pid}`), old = path.join(parent, `.${base}.old`);
  removeStaleTemps(dir); // a run killed while saving left its .checkpoint.tmp-PID
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  write(tmp);
  fs.rmSync(old, { recursive: true, force: true });
  if (fs.existsSync(dir)) fs.renameSync(dir, old);
  fs.renameSync(tmp, dir);
  fs.rmSync(old, { recursive: true, force: true });
}

/** AdamW's moments of the tensors of layout, as optimizer.safetensors holds them. */
export function writeMoments(file: string, layout: ParamLayout, opt: AdamW): void {
  const moments: StoredTensor[] = [];
  for (const p of layout.infos) {
    moments.push(f32Tensor(`${p.name}.exp_avg`, p.shape, opt.m.subarray(p.offset, p.offset + p.size)));
    moments.push(f32Tensor(`${p.name}.exp_avg_sq`, p.shape, opt.v.subarray(p.offset, p.offset + p.size)));
  }
  writeSafetensors(file, moments, { format: "pt", optimizer: "adamw" });
}

/** Load AdamW's moments (writeMoments) and step counter. */
export function readMoments(file: string, layout: ParamLayout, opt: AdamW, adamStep: number): void {
  const mom = readSafetensors(file).tensors;
  const m = new Map<string, StoredTensor>(), v = new Map<string, StoredTensor>();
  for (const [n, t] of mom) {
    if (n.endsWith(".exp_avg")) m.set(n.slice(0, -8), t);
    else if (n.endsWith(".exp_avg_sq")) v.set(n.slice(0, -11), t);
  }
  loadParams(layout, opt.m, m, `${file} (exp_avg)`);
  loadParams(layout, opt.v, v, `${file} (exp_avg_sq)`);
  opt.step = adamStep;
}

/** Write dir (e.g. OUT/checkpoint) atomically: HF layout (config, weights) plus optimizer moments and state. */
export function saveCheckpoint(dir: string, config: OpenELMConfig, layout: ParamLayout, params: Float32Array,
  opt: AdamW, state: { format: string }): void {
  writeDirAtomic(dir, (tmp) => {
  fs.writeFileSync(path.join(tmp, "config.json"), configToJson(config));
  fs.writeFileSync(path.join(tmp, "generation_config.json"), JSON.stringify({ _from_model_config: true, bos_token_id: config.bos_token_id, eos_token_id: config.eos_token_id, transformers_version: "4.39.3" }, null, 2) + "\n");
  const weights: StoredTensor[] = [];
  for (const p of layout.infos) weights.push(f32Tensor(p.name, p.shape, params.subarray(p.offset, p.offset + p.size)));
  writeSafetensors(path.join(tmp, "model.safetensors"), weights, { format: "pt" });
  writeMoments(path.join(tmp, "optimizer.safetensors"), layout, opt);
  writeFileAtomic(path.join(tmp, "trainer_state.json"), JSON.stringify(state, null, 2) + "\n");
  });
}

/** The checkpoint directory to resume from: dir, or the previous one a crash mid-swap left behind. */
export function findCheckpoint(dir: string): string | null {
  if (fs.existsSync(path.join(dir, "trainer_state.json"))) return dir;
  const old = path.join(path.dirname(dir), `.${path.basename(dir)}.old`);
  return fs.existsSync(path.join(old, "trainer_state.json")) ? old : null;
}

export interface LoadedTrainCheckpoint { dir: string; config: OpenELMConfig; state: TrainerState }

export function readTrainerState(dir: string): LoadedTrainCheckpoint {
  const read = (f: string) => {
    try { return JSON.parse(fs.readFileSync(path.join(dir, f), "utf-8")); } catch (e) {
      throw new CheckpointError(`${path.join(dir, f)}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  };
  const state = read("trainer_state.json") as TrainerState;
  if (state?.format !== TRAINER_STATE_FORMAT) throw new CheckpointError(`${path.join(dir, "trainer_state.json")}: field "format" is ${JSON.stringify(state?.format)}, expected "${TRAINER_STATE_FORMAT}"`);
  return { dir, config: parseConfig(read("config.json"), path.join(dir, "config.json")), state };
}

/** Load weights and AdamW moments of a checkpoint into the flat arrays. */
export function restoreCheckpoint(dir: string, layout: ParamLayout, params: Float32Array, opt: AdamW, adamStep: number): void {
  loadParams(layout, params, readSafetensors(path.join(dir, "model.safetensors")).tensors, path.join(dir, "model.safetensors"));
  readMoments(path.join(dir, "optimizer.safetensors"), layout, opt, adamStep);
}
