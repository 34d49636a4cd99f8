// PEFT LoRA / DoRA adapters on disk: adapter_config.json + adapter_model.safetensors, read and written as
// Hugging Face PEFT's save_pretrained does for a PeftModelForCausalLM over HF's OpenELMForCausalLM
// (peft/utils/save_and_load.py, peft/tuners/lora/config.py; checked against PEFT 0.13 … 0.20).
//
// Tensor names: base_model.model.transformer.layers.{i}.attn.qkv_proj.lora_A.weight   (r, in)
//                                                       ....lora_B.weight               (out, r)
//                                                       ....lora_magnitude_vector       (out)  DoRA only
// (in memory PEFT names them lora_A.default.weight / lora_magnitude_vector.default.weight; the file drops the
// adapter name and, for the magnitude, the ".weight"; older files that kept ".weight" are read too).
// Targets: PEFT matches target_modules against the last name component, so on OpenELM the only Linear layers
// an adapter can wrap are qkv_proj, out_proj (attn) and proj_1, proj_2 (ffn); "all-linear" means those four
// (PEFT leaves the output layer out). Scaling: lora_alpha / r, or lora_alpha / sqrt(r) with use_rslora.

import * as fs from "node:fs";
import * as path from "node:path";
import { CheckpointError, ConfigError } from "../errors.js";
import { layerSizes, type OpenELMConfig } from "../models/config.js";
import { toFloat32, type StoredTensor } from "../tensor/tensor.js";
import { writeFileAtomic } from "./atomic_write.js";
import { readText, type ModelFiles } from "./byte_source.js";
import { directoryFiles } from "./file_source.js";
import { openSafetensorsSource, serializeSafetensors } from "./safetensors.js";

export const CONFIG_FILE = "adapter_config.json";
export const WEIGHTS_FILE = "adapter_model.safetensors";

/** The Linear layers of an OpenELM layer an adapter can wrap, with their parent module. */
export const LORA_TARGETS = ["qkv_proj", "out_proj", "proj_1", "proj_2"] as const;
export type LoraTarget = (typeof LORA_TARGETS)[number];
const PARENT: Record<LoraTarget, "attn" | "ffn"> = { qkv_proj: "attn", out_proj: "attn", proj_1: "ffn", proj_2: "ffn" };

/** One adapted Linear W (out, in): y = W x + scaling · B (A x); DoRA rescales each output row by magnitude / ‖W + scaling·B·A‖_row. */
export interface LoraModule {
  /** out_features and in_features of the wrapped Linear. */
  out: number;
  in: number;
  r: number;
  alpha: number;
  /** alpha / r (alpha / sqrt(r) with use_rslora). */
  scaling: number;
  /** (r, in) row-major. */
  A: Float32Array;
  /** (out, r) row-major. */
  B: Float32Array;
  /** (out): DoRA's magnitude vector m; null for LoRA. */
  magnitude: Float32Array | null;
}

/**
 * A PEFT adapter for one OpenELM base. `config` is adapter_config.json as PEFT writes it (kept whole, so
 * unknown keys round-trip); `layers[i][target]` is present where layer i's target is adapted.
 */
export interface PeftAdapter {
  config: Record<string, unknown>;
  layers: Array<Partial<Record<LoraTarget, LoraModule>>>;
  useDora: boolean;
}

/** The file name of an adapter tensor. */
export function peftTensorName(layer: number, target: LoraTarget, kind: "lora_A" | "lora_B" | "magnitude"): string {
  const base = `base_model.model.transformer.layers.${layer}.${PARENT[target]}.${target}`;
  return kind === "magnitude" ? `${base}.lora_magnitude_vector` : `${base}.${kind}.weight`;
}

/** (out, in) of a target Linear in layer i: the shape of the base weight it wraps. */
export function targetShape(c: OpenELMConfig, i: number, t: LoraTarget): { out: number; in: number } {
  const { nQ, nKV, ffnDim: F } = layerSizes(c, i), D = c.model_dim, hd = c.head_dim;
  switch (t) {
    case "qkv_proj": return { out: (nQ + 2 * nKV) * hd, in: D };
    case "out_proj": return { out: D, in: nQ * hd };
    case "proj_1": return { out: 2 * F, in: D };
    case "proj_2": return { out: D, in: F };
  }
}

export interface AdapterOptions {
  r: number;
  alpha: number;
  dropout?: number;
  targets?: readonly LoraTarget[];
  useDora?: boolean;
  useRslora?: boolean;
  /** Written to base_model_name_or_path (for information). */
  baseModel?: string | null;
}

/** adapter_config.json with every field PEFT 0.13+ writes, for a new adapter. */
export function newAdapterConfig(o: AdapterOptions): Record<string, unknown> {
  return {
    alpha_pattern: {}, auto_mapping: null, base_model_name_or_path: o.baseModel ?? null, bias: "none",
    fan_in_fan_out: false, inference_mode: true, init_lora_weights: true, layer_replication: null,
    layers_pattern: null, layers_to_transform: null, loftq_config: {}, lora_alpha: o.alpha,
    lora_dropout: o.dropout ?? 0, megatron_config: null, megatron_core: "megatron.core", modules_to_save: null,
    peft_type: "LORA", r: o.r, rank_pattern: {}, revision: null, target_modules: [...(o.targets ?? LORA_TARGETS)].sort(),
    task_type: "CAUSAL_LM", use_dora: o.useDora ?? false, use_rslora: o.useRslora ?? false,
  };
}

/** Parsed adapter_config.json: what decides which modules exist, their rank and scaling. */
export interface AdapterSettings {
  r: number;
  alpha: number;
  useDora: boolean;
  useRslora: boolean;
  /** The rank, alpha and scaling of target t in layer i, or null when it is not adapted. */
  module(i: number, t: LoraTarget): { r: number; alpha: number; scaling: number } | null;
}

/** PEFT's get_pattern_key: a rank_pattern / alpha_pattern key applies when it matches the end of the module name. */
function patternValue(pattern: Record<string, unknown>, name: string, file: string, field: string): number | undefined {
  for (const [key, v] of Object.entries(pattern)) {
    let re: RegExp;
    try { re = new RegExp(`^(.*\\.)?(${key})$`); } catch {
      throw new ConfigError(`${file}: ${field}: key ${JSON.stringify(key)} is not a valid pattern`);
    }
    if (re.test(name)) {
      if (typeof v !== "number" || !(v > 0)) throw new ConfigError(`${file}: ${field}.${key}: expected a positive number, got ${JSON.stringify(v)}`);
      return v;
    }
  }
  return undefined;
}

/**
 * Validate adapter_config.json for a base config and say which modules it adapts. Throws ConfigError naming
 * the file and the field for a missing or ill-typed key, an unknown target module, or a feature the
 * forward pass does not implement (bias, fan_in_fan_out, modules_to_save, a non-LoRA peft_type).
 */
export function adapterSettings(cfg: Record<string, unknown>, base: OpenELMConfig, file = CONFIG_FILE): AdapterSettings {
  const need = (key: string): unknown => {
    if (!(key in cfg)) throw new ConfigError(`${file}: missing key "${key}"`);
    return cfg[key];
  };
  const peftType = need("peft_type");
  if (peftType !== "LORA") throw new ConfigError(`${file}: peft_type: expected "LORA" (LoRA or DoRA), got ${JSON.stringify(peftType)}`);
  const r = need("r");
  if (!Number.isInteger(r) || (r as number) < 1) throw new ConfigError(`${file}: r: expected a positive integer, got ${JSON.stringify(r)}`);
  const alpha = need("lora_alpha");
  if (typeof alpha !== "number" || !Number.isFinite(alpha)) throw new ConfigError(`${file}: lora_alpha: expected a number, got ${JSON.stringify(alpha)}`);
  const flag = (key: string): boolean => {
    const v = cfg[key] ?? false;
    if (typeof v !== "boolean") throw new ConfigError(`${file}: ${key}: expected true or false, got ${JSON.stringify(v)}`);
    return v;
  };
  const useDora = flag("use_dora"), useRslora = flag("use_rslora");
  if (flag("fan_in_fan_out")) throw new ConfigError(`${file}: fan_in_fan_out: true is for Conv1D layers (GPT-2); OpenELM's Linear layers need false`);
  const bias = cfg.bias ?? "none";
  if (bias !== "none") throw new ConfigError(`${file}: bias: only "none" is supported (OpenELM's Linear layers have no bias), got ${JSON.stringify(bias)}`);
  const mts = cfg.modules_to_save;
  if (mts !== undefined && mts !== null && !(Array.isArray(mts) && mts.length === 0))
    throw new ConfigError(`${file}: modules_to_save: fully trained modules are not supported, got ${JSON.stringify(mts)}`);
  const dropout = cfg.lora_dropout ?? 0;
  if (typeof dropout !== "number" || !(dropout >= 0 && dropout < 1)) throw new ConfigError(`${file}: lora_dropout: expected a number in [0, 1), got ${JSON.stringify(dropout)}`);
  const taskType = cfg.task_type ?? null;
  if (taskType !== null && taskType !== "CAUSAL_LM") throw new ConfigError(`${file}: task_type: expected "CAUSAL_LM", got ${JSON.stringify(taskType)}`);
  for (const key of ["layer_replication", "layers_pattern"])
    if (cfg[key] !== undefined && cfg[key] !== null) throw new ConfigError(`${file}: ${key}: not supported, got ${JSON.stringify(cfg[key])}`);

  // target_modules: a list of names (each must be one of the four Linear layers), "all-linear", or a regex
  // matched against the full module name (PEFT: re.fullmatch).
  const tm = need("target_modules");
  let isTarget: (i: number, t: LoraTarget) => boolean;
  if (tm === "all-linear") isTarget = () => true;
  else if (typeof tm === "string") {
    let re: RegExp;
    try { re = new RegExp(`^(?:${tm})$`); } catch { throw new ConfigError(`${file}: target_modules: ${JSON.stringify(tm)} is not a valid regular expression`); }
    isTarget = (i, t) => re.test(`transformer.layers.${i}.${PARENT[t]}.${t}`) || re.test(`model.transformer.layers.${i}.${PARENT[t]}.${t}`);
  } else if (Array.isArray(tm) && tm.length > 0) {
    for (const name of tm) {
      if (typeof name !== "string") throw new ConfigError(`${file}: target_modules: expected module names, got ${JSON.stringify(name)}`);
      const last = name.split(".").pop()!;
      if (!(LORA_TARGETS as readonly string[]).includes(last))
        throw new ConfigError(`${file}: target_modules: unknown module "${name}" (OpenELM's adaptable layers are ${LORA_TARGETS.join(", ")})`);
    }
    const set = new Set(tm.map((n: string) => n.split(".").pop()));
    isTarget = (_i, t) => set.has(t);
  } else throw new ConfigError(`${file}: target_modules: expected a non-empty list of module names, "all-linear" or a pattern, got ${JSON.stringify(tm)}`);

  const L = base.num_transformer_layers;
  const ltt = cfg.layers_to_transform ?? null;
  let layers: Set<number> | null = null;
  if (ltt !== null) {
    const list = Array.isArray(ltt) ? ltt : [ltt];
    for (const v of list)
      if (!Number.isInteger(v) || v < 0 || v >= L)
        throw new ConfigError(`${file}: layers_to_transform: ${JSON.stringify(v)} is not a layer of this base (0 … ${L - 1})`);
    layers = new Set(list as number[]);
  }
  const asRecord = (key: string): Record<string, unknown> => {
    const v = cfg[key] ?? {};
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw new ConfigError(`${file}: ${key}: expected an object, got ${JSON.stringify(v)}`);
    return v as Record<string, unknown>;
  };
  const rankPattern = asRecord("rank_pattern"), alphaPattern = asRecord("alpha_pattern");
  let any = false;
  const module = (i: number, t: LoraTarget) => {
    if ((layers && !layers.has(i)) || !isTarget(i, t)) return null;
    const name = `model.transformer.layers.${i}.${PARENT[t]}.${t}`;
    const rr = patternValue(rankPattern, name, file, "rank_pattern") ?? (r as number);
    if (!Number.isInteger(rr)) throw new ConfigError(`${file}: rank_pattern: rank for ${name} must be an integer, got ${rr}`);
    const aa = patternValue(alphaPattern, name, file, "alpha_pattern") ?? (alpha as number);
    return { r: rr, alpha: aa, scaling: useRslora ? aa / Math.sqrt(rr) : aa / rr };
  };
  for (let i = 0; i < L && !any; i++) for (const t of LORA_TARGETS) if (module(i, t)) any = true;
  if (!any) throw new ConfigError(`${file}: target_modules: ${JSON.stringify(tm)} matches no layer of this base`);
  return { r: r as number, alpha: alpha as number, useDora, useRslora, module };
}

/** Read adapter_config.json of an adapter directory (a ConfigError for a missing file or bad JSON). */
export function readAdapterConfig(dir: string): Record<string, unknown> {
  return adapterConfigOf(adapterDirectory(dir));
}

/** The files of an adapter directory; a ConfigError when it is not one. */
function adapterDirectory(dir: string): ModelFiles {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new ConfigError(`${dir}: no such adapter directory (expected ${CONFIG_FILE} + ${WEIGHTS_FILE})`);
  return directoryFiles(dir);
}

/** adapter_config.json of an adapter's files as an object (a ConfigError naming the file when missing or not JSON). */
function adapterConfigOf(files: ModelFiles): Record<string, unknown> {
  const file = files.path(CONFIG_FILE);
  if (!files.has(CONFIG_FILE)) throw new ConfigError(`${file}: missing (a PEFT adapter directory holds ${CONFIG_FILE} + ${WEIGHTS_FILE})`);
  let cfg: unknown;
  try { cfg = JSON.parse(readText(files, CONFIG_FILE)); } catch (e) {
    throw new ConfigError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof cfg !== "object" || cfg === null || Array.isArray(cfg)) throw new ConfigError(`${file}: expected a JSON object`);
  return cfg as Record<string, unknown>;
}

/**
 * Build an adapter from its config and tensors (file names as PEFT writes them), checking every tensor
 * against the base: a missing or unexpected tensor, or a shape that does not fit the base (wrong rank, an
 * adapter trained for another model size) is a CheckpointError naming `file` and the tensor.
 */
export function adapterFromTensors(cfg: Record<string, unknown>, tensors: Map<string, StoredTensor>, base: OpenELMConfig,
  files: { config?: string; weights?: string } = {}): PeftAdapter {
  const cfile = files.config ?? CONFIG_FILE, wfile = files.weights ?? WEIGHTS_FILE;
  const s = adapterSettings(cfg, base, cfile);
  const seen = new Set<string>();
  /** rankAxis: the axis of shape that is the rank (so the error can say which file disagrees). */
  const take = (name: string, shape: number[], rankAxis: number, alt?: string): Float32Array => {
    const key = tensors.has(name) ? name : alt !== undefined && tensors.has(alt) ? alt : null;
    if (key === null) throw new CheckpointError(`${wfile}: missing tensor "${name}" (shape ${JSON.stringify(shape)}; ${cfile} names this module)`);
    const t = tensors.get(key)!;
    seen.add(key);
    if (t.shape.length !== shape.length || t.shape.some((d, k) => d !== shape[k]))
      throw new CheckpointError(`${wfile}: tensor "${key}" has shape ${JSON.stringify(t.shape)}, expected ${JSON.stringify(shape)} (${t.shape.length === shape.length && t.shape.every((d, k) => d === shape[k] || k === rankAxis) ? `the rank in ${cfile} is ${shape[rankAxis]}` : "another base model?"})`);
    if (t.dtype !== "f32" && t.dtype !== "bf16" && t.dtype !== "f16") throw new CheckpointError(`${wfile}: tensor "${key}" has dtype ${t.dtype}, expected F32, BF16 or F16`);
    const v = toFloat32(t);
    for (let k = 0; k < v.length; k++)
      if (!Number.isFinite(v[k])) throw new CheckpointError(`${wfile}: tensor "${key}" holds a non-finite value at index ${k}`);
    return v;
  };
  const layers: PeftAdapter["layers"] = [];
  for (let i = 0; i < base.num_transformer_layers; i++) {
    const layer: Partial<Record<LoraTarget, LoraModule>> = {};
    for (const t of LORA_TARGETS) {
      const m = s.module(i, t);
      if (!m) continue;
      const { out, in: inF } = targetShape(base, i, t);
      const mag = peftTensorName(i, t, "magnitude");
      layer[t] = {
        out, in: inF, r: m.r, alpha: m.alpha, scaling: m.scaling,
        A: take(peftTensorName(i, t, "lora_A"), [m.r, inF], 0), B: take(peftTensorName(i, t, "lora_B"), [out, m.r], 1),
        magnitude: s.useDora ? take(mag, [out], -1, `${mag}.weight`) : null,
      };
    }
    layers.push(layer);
  }
  for (const name of tensors.keys())
    if (!seen.has(name)) throw new CheckpointError(`${wfile}: unexpected tensor "${name}" (not a module of this base named by ${cfile}${s.useDora ? "" : "; a DoRA magnitude needs use_dora: true"})`);
  return { config: cfg, layers, useDora: s.useDora };
}

/** Read and validate a PEFT adapter directory for a base model config (errors name the file and the field). */
export function readPeftAdapter(dir: string, base: OpenELMConfig): PeftAdapter {
  return peftAdapterFromFiles(adapterDirectory(dir), base);
}

/**
 * Read and validate a PEFT adapter from its folder's files, wherever they are (a directory; files a browser
 * fetched or the user picked) for a base model config.
 */
export function peftAdapterFromFiles(files: ModelFiles, base: OpenELMConfig): PeftAdapter {
  const cfg = adapterConfigOf(files);
  const wfile = files.path(WEIGHTS_FILE);
  if (!files.has(WEIGHTS_FILE))
    throw new CheckpointError(`${wfile}: missing${files.has("adapter_model.bin") ? " (adapter_model.bin is a pickle: save with safe_serialization=True)" : ""}`);
  const st = openSafetensorsSource(files.open(WEIGHTS_FILE));
  try {
    return adapterFromTensors(cfg, st.tensors, base, { config: files.path(CONFIG_FILE), weights: wfile });
  } finally {
    st.close();
  }
}

function f32Tensor(name: string, shape: number[], v: Float32Array): StoredTensor {
  return { name, dtype: "f32", shape, data: new Uint8Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength)) };
}

/** The adapter's tensors under PEFT's file names (F32). */
export function adapterTensors(a: PeftAdapter): StoredTensor[] {
  const out: StoredTensor[] = [];
  a.layers.forEach((layer, i) => {
    for (const t of LORA_TARGETS) {
      const m = layer[t];
      if (!m) continue;
      out.push(f32Tensor(peftTensorName(i, t, "lora_A"), [m.r, m.in], m.A), f32Tensor(peftTensorName(i, t, "lora_B"), [m.out, m.r], m.B));
      if (m.magnitude) out.push(f32Tensor(peftTensorName(i, t, "magnitude"), [m.out], m.magnitude));
    }
  });
  return out;
}

/** Keys whose values Python writes as floats (json.dumps: 0.0, not 0). */
const FLOAT_KEYS = new Set(["lora_dropout"]);

/** adapter_config.json text as PEFT writes it: json.dumps(indent=2, sort_keys=True). */
export function adapterConfigText(cfg: Record<string, unknown>): string {
  const dump = (v: unknown, indent: string, key?: string): string => {
    if (typeof v === "number" && key !== undefined && FLOAT_KEYS.has(key) && Number.isInteger(v)) return `${v}.0`;
    if (Array.isArray(v)) return v.length === 0 ? "[]" : `[\n${v.map((x) => `${indent}  ${dump(x, indent + "  ")}`).join(",\n")}\n${indent}]`;
    if (typeof v === "object" && v !== null) {
      const keys = Object.keys(v).sort();
      if (keys.length === 0) return "{}";
      return `{\n${keys.map((k) => `${indent}  ${JSON.stringify(k)}: ${dump((v as Record<string, unknown>)[k], indent + "  ", k)}`).join(",\n")}\n${indent}}`;
    }
    return JSON.stringify(v) ?? "null";
  };
  return dump(cfg, "") + "\n";
}

/**
 * Write an adapter directory: adapter_model.safetensors (F32, PEFT's names) and adapter_config.json, each
 * atomically (temp name, fsync, rename); the weights first, so a config never names weights that are not there.
 */
export function writePeftAdapter(dir: string, a: PeftAdapter): void {
  fs.mkdirSync(dir, { recursive: true });
  const files = peftAdapterFiles(a, dir);
  writeFileAtomic(path.join(dir, WEIGHTS_FILE), files.weights);
  writeFileAtomic(path.join(dir, CONFIG_FILE), files.config);
}

/** The two files of an adapter directory as bytes (a browser offers them as downloads); `where` names it in errors. */
export function peftAdapterFiles(a: PeftAdapter, where = "adapter"): { config: string; weights: Uint8Array[] } {
  return {
    config: adapterConfigText({ ...a.config, use_dora: a.useDora }),
    weights: serializeSafetensors(adapterTensors(a), { format: "pt" }, `${where}/${WEIGHTS_FILE}`),
  };
}
