// Training recipes: a JSON file naming the model (a published config by name, a config.json path, or an
// inline config object) and the hyperparameters. Unknown fields are rejected so a typo never silently
// falls back to a default. The four CoreNet OpenELM pre-training recipes and small CPU recipes ship in
// train/recipes/ (usable by name: `--config openelm-270M`, `--config tiny-cpu`).

import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { ConfigError } from "../errors.js";
import { parseConfig, type OpenELMConfig } from "../models/config.js";
import { resolveConfig } from "../models/registry.js";
import type { CosineSchedule } from "./schedule.js";

export interface Recipe {
  /** Published config name, config.json path (relative to the recipe) or a config object. */
  model: string | Record<string, unknown>;
  /** Tokens per training sequence (T). */
  context_length: number;
  /** Sequences per micro-batch (B). */
  batch_size: number;
  /** Micro-batches per optimizer step (gradients averaged). */
  grad_accumulation: number;
  /** Optimizer steps; CoreNet's loop runs it = 0 … max_iterations, this runs max_iterations steps. */
  max_iterations: number;
  max_lr: number;
  min_lr: number;
  warmup_iterations: number;
  warmup_init_lr: number;
  weight_decay: number;
  betas: [number, number];
  eps: number;
  grad_clip: number;
  z_loss_coef: number;
  seed: number;
  /** Validate every N steps (0: never) on eval_batches batches of the validation split. */
  eval_every: number;
  eval_batches: number;
  /** Save a checkpoint every N steps (and always at the end, and on Ctrl-C). */
  save_every: number;
  /** Print a status line every N steps. */
  log_every: number;
  /** Recompute each layer's activations in the backward instead of keeping them (less memory at long T). */
  activation_checkpointing: boolean;
  /** Start from this checkpoint directory's weights instead of a fresh CoreNet initialisation. */
  init_from: string | null;
  /** Free text. */
  description: string;
}

const DEFAULTS: Omit<Recipe, "model"> = {
  context_length: 256, batch_size: 8, grad_accumulation: 1, max_iterations: 1000,
  max_lr: 5.3e-3, min_lr: 5.3e-4, warmup_iterations: 100, warmup_init_lr: 1e-6,
  weight_decay: 0.1, betas: [0.9, 0.95], eps: 1e-8, grad_clip: 1.0, z_loss_coef: 1e-4, seed: 0,
  eval_every: 100, eval_batches: 8, save_every: 500, log_every: 1, activation_checkpointing: false, init_from: null, description: "",
};

const RECIPES_DIR = fileURLToPath(new URL("../../src/train/recipes/", import.meta.url));

/** Names of the shipped recipes. */
export function recipeNames(): string[] {
  return fs.existsSync(RECIPES_DIR) ? fs.readdirSync(RECIPES_DIR).filter((f) => f.endsWith(".json")).map((f) => f.slice(0, -5)).sort() : [];
}

export interface LoadedRecipe { recipe: Recipe; file: string; config: OpenELMConfig }

/** Read a recipe by path or by shipped name; resolves its model config. Throws ConfigError naming the field. */
export function loadRecipe(nameOrFile: string): LoadedRecipe {
  let file = nameOrFile;
  if (!fs.existsSync(file)) {
    const shipped = path.join(RECIPES_DIR, `${nameOrFile}.json`);
    if (!fs.existsSync(shipped)) throw new ConfigError(`--config ${nameOrFile}: no such file, and not a shipped recipe (${recipeNames().join(", ")})`);
    file = shipped;
  }
  let json: unknown;
  try { json = JSON.parse(fs.readFileSync(file, "utf-8")); } catch (e) { throw new ConfigError(`${file}: not JSON (${(e as Error).message})`); }
  const recipe = parseRecipe(json, file);
  return { recipe, file, config: resolveModel(recipe.model, file) };
}

function resolveModel(model: Recipe["model"], file: string): OpenELMConfig {
  if (typeof model !== "string") return parseConfig(model, `${file}: model`);
  const rel = path.resolve(path.dirname(file), model);
  return resolveConfig(model.endsWith(".json") && fs.existsSync(rel) ? rel : model);
}

export function parseRecipe(json: unknown, file: string): Recipe {
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw new ConfigError(`${file}: expected a JSON object`);
  const j = json as Record<string, unknown>;
  const known = new Set(["model", ...Object.keys(DEFAULTS)]);
  const unknown = Object.keys(j).filter((k) => !known.has(k));
  if (unknown.length) throw new ConfigError(`${file}: unknown field "${unknown[0]}" (recipe fields: ${[...known].join(", ")})`);
  if (!("model" in j)) throw new ConfigError(`${file}: missing field "model" (a published config name, a config.json path or a config object)`);
  const r = { ...DEFAULTS, ...j } as Recipe;
  if (typeof r.model !== "string" && (typeof r.model !== "object" || r.model === null || Array.isArray(r.model)))
    throw new ConfigError(`${file}: field "model" is ${JSON.stringify(r.model)}, expected a config name, a path or an object`);
  const posInt = ["context_length", "batch_size", "grad_accumulation", "max_iterations", "eval_batches", "log_every"] as const;
  for (const k of posInt) if (!Number.isInteger(r[k]) || r[k] < 1) throw new ConfigError(`${file}: field "${k}" is ${JSON.stringify(r[k])}, expected a positive integer`);
  for (const k of ["warmup_iterations", "eval_every", "save_every", "seed"] as const)
    if (!Number.isInteger(r[k]) || r[k] < 0) throw new ConfigError(`${file}: field "${k}" is ${JSON.stringify(r[k])}, expected an integer ≥ 0`);
  for (const k of ["max_lr", "min_lr", "warmup_init_lr", "weight_decay", "eps", "grad_clip", "z_loss_coef"] as const)
    if (typeof r[k] !== "number" || !Number.isFinite(r[k]) || r[k] < 0) throw new ConfigError(`${file}: field "${k}" is ${JSON.stringify(r[k])}, expected a number ≥ 0`);
  if (!Array.isArray(r.betas) || r.betas.length !== 2 || !r.betas.every((b) => typeof b === "number" && b >= 0 && b < 1))
    throw new ConfigError(`${file}: field "betas" is ${JSON.stringify(r.betas)}, expected [beta1, beta2] in [0, 1)`);
  if (typeof r.activation_checkpointing !== "boolean")
    throw new ConfigError(`${file}: field "activation_checkpointing" is ${JSON.stringify(r.activation_checkpointing)}, expected true or false`);
  if (r.init_from !== null && typeof r.init_from !== "string") throw new ConfigError(`${file}: field "init_from" is ${JSON.stringify(r.init_from)}, expected a checkpoint directory or null`);
  if (typeof r.description !== "string") throw new ConfigError(`${file}: field "description" is ${JSON.stringify(r.description)}, expected a string`);
  return r;
}

/** The recipe's learning-rate schedule in CoreNet's terms. */
export function recipeSchedule(r: Recipe): CosineSchedule {
  return { max_lr: r.max_lr, min_lr: r.min_lr, warmup_iterations: r.warmup_iterations, max_iterations: r.max_iterations, warmup_init_lr: r.warmup_init_lr };
}
