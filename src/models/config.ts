// OpenELM config.json: parsing, validation and layer-wise scaling.
// References: HF apple/OpenELM configuration_openelm.py (make_divisible, compute_heads); CoreNet GPTConfig.

import { ConfigError } from "../errors.js";

/** Keys spelled exactly as in the checkpoint's config.json (after parsing; per-layer lists expanded). */
export interface OpenELMConfig {
  model_type: "openelm";
  vocab_size: number;
  num_transformer_layers: number;
  model_dim: number;
  head_dim: number;
  num_query_heads: number[];
  num_kv_heads: number[];
  ffn_multipliers: number[];
  ffn_dim_divisor: number;
  ffn_with_glu: boolean;
  qkv_multipliers?: number | number[];
  num_gqa_groups?: number;
  normalize_qk_projections: boolean;
  share_input_output_layers: boolean;
  rope_freq_constant: number;
  rope_max_length: number;
  max_context_length: number;
  activation_fn_name: string;
  normalization_layer_name: string;
  bos_token_id: number;
  eos_token_id: number;
  torch_dtype?: string;
  /** Every other recognised key, kept so the config round-trips. */
  extra: Record<string, unknown>;
}

export interface LayerSizes { nQ: number; nKV: number; ffnDim: number }

/** RMSNorm epsilon: hard-coded in OpenELMRMSNorm, not in config.json. */
export const RMS_EPS = 1e-6;

/** Bookkeeping keys HF writes that do not change the model. */
const BOOKKEEPING = new Set([
  "architectures", "auto_map", "initializer_range", "use_cache", "transformers_version", "_name_or_path",
  "torch_dtype", "pad_token_id", "tie_word_embeddings", "return_dict", "output_attentions", "output_hidden_states",
]);
const MODEL_KEYS = new Set([
  "model_type", "vocab_size", "num_transformer_layers", "model_dim", "head_dim", "num_query_heads", "num_kv_heads",
  "ffn_multipliers", "ffn_dim_divisor", "ffn_with_glu", "qkv_multipliers", "num_gqa_groups", "normalize_qk_projections",
  "share_input_output_layers", "rope_freq_constant", "rope_max_length", "max_context_length", "activation_fn_name",
  "normalization_layer_name", "bos_token_id", "eos_token_id",
]);

/** HF/CoreNet make_divisible: round v to a multiple of d, never more than 10% below v. */
export function makeDivisible(v: number, d: number): number {
  let n = Math.max(d, Math.floor(Math.trunc(v + d / 2) / d) * d);
  if (n < 0.9 * v) n += d;
  return n;
}

/** numpy's round(x, 2) on a float64: rint(x * 100) / 100 with ties to even. */
export function round2(x: number): number {
  const y = x * 100;
  let r = Math.round(y);
  if (Math.abs(y - Math.trunc(y)) === 0.5 && r % 2 !== 0) r -= 1; // Math.round rounds .5 up; numpy to even
  return r / 100;
}

/** numpy.linspace(lo, hi, n) in float64, element by element as numpy computes it. */
export function linspace(lo: number, hi: number, n: number): number[] {
  if (n === 1) return [lo];
  const step = (hi - lo) / (n - 1);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(step === 0 ? lo + ((i / (n - 1)) * (hi - lo)) : i * step + lo);
  out[n - 1] = hi;
  return out;
}

/** Per-layer multipliers from a compact [lo, hi] pair, a single number, or an expanded list. */
export function expandMultipliers(m: number | number[], L: number, what: string, file: string): number[] {
  if (typeof m === "number") return new Array(L).fill(m);
  if (m.length === L) return m.slice();
  if (m.length === 2) return linspace(m[0], m[1], L).map(round2);
  throw new ConfigError(`${file}: ${what} has ${m.length} entries, expected 1, 2 ([lo, hi]) or num_transformer_layers = ${L}`);
}

/** Query/KV heads per layer derived from qkv_multipliers and num_gqa_groups (HF __post_init__). */
export function deriveHeads(c: { model_dim: number; head_dim: number; num_transformer_layers: number;
  qkv_multipliers: number | number[]; num_gqa_groups: number }, file = "config.json"): { q: number[]; kv: number[] } {
  const L = c.num_transformer_layers;
  const m = typeof c.qkv_multipliers === "number" ? new Array(L).fill(c.qkv_multipliers)
    : c.qkv_multipliers.length === 2 ? linspace(c.qkv_multipliers[0], c.qkv_multipliers[1], L).map(round2)
      : expandMultipliers(c.qkv_multipliers, L, "qkv_multipliers", file);
  const q: number[] = [], kv: number[] = [];
  for (let i = 0; i < L; i++) {
    const qDim = makeDivisible(c.model_dim * m[i], c.head_dim * c.num_gqa_groups);
    q.push(qDim / c.head_dim);
    kv.push(Math.floor(qDim / c.head_dim / c.num_gqa_groups));
  }
  return { q, kv };
}

/** The one place where layer-wise scaling turns into sizes. */
export function layerSizes(c: OpenELMConfig, i: number): LayerSizes {
  return {
    nQ: c.num_query_heads[i],
    nKV: c.num_kv_heads[i],
    ffnDim: makeDivisible(c.ffn_multipliers[i] * c.model_dim, c.ffn_dim_divisor),
  };
}

/** Parameters as published (tied embedding counted once; lm_head added when untied). */
export function parameterCount(c: OpenELMConfig): number {
  const D = c.model_dim, hd = c.head_dim;
  let n = c.vocab_size * D + D;
  if (!c.share_input_output_layers) n += c.vocab_size * D;
  for (let i = 0; i < c.num_transformer_layers; i++) {
    const { nQ, nKV, ffnDim } = layerSizes(c, i);
    n += 2 * D + (nQ + 2 * nKV) * hd * D + nQ * hd * D + (c.ffn_with_glu ? 3 : 2) * ffnDim * D;
    if (c.normalize_qk_projections) n += 2 * hd;
  }
  return n;
}

function need<T>(j: Record<string, unknown>, key: string, file: string, check: (v: unknown) => v is T, expected: string): T {
  if (!(key in j)) throw new ConfigError(`${file}: missing field "${key}" (expected ${expected})`);
  const v = j[key];
  if (!check(v)) throw new ConfigError(`${file}: field "${key}" is ${JSON.stringify(v)}, expected ${expected}`);
  return v;
}
const isPosInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v > 0;
const isInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v);
const isPosNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v) && v > 0;
const isBool = (v: unknown): v is boolean => typeof v === "boolean";
const isStr = (v: unknown): v is string => typeof v === "string";
const isNumOrList = (v: unknown): v is number | number[] =>
  isPosNum(v) || (Array.isArray(v) && v.length > 0 && v.every(isPosNum));
const isIntList = (v: unknown): v is number[] => Array.isArray(v) && v.every(isPosInt);

/**
 * Validate a parsed config.json. Unknown fields, missing fields, wrong types and per-layer lists of the
 * wrong length or disagreeing with the multiplier derivation throw ConfigError naming the file and field.
 */
export function parseConfig(json: unknown, file = "config.json"): OpenELMConfig {
  if (typeof json !== "object" || json === null || Array.isArray(json))
    throw new ConfigError(`${file}: expected a JSON object, got ${Array.isArray(json) ? "an array" : typeof json}`);
  const j = json as Record<string, unknown>;
  const unknown = Object.keys(j).filter((k) => !MODEL_KEYS.has(k) && !BOOKKEEPING.has(k));
  if (unknown.length) throw new ConfigError(`${file}: unknown field${unknown.length > 1 ? "s" : ""} ${unknown.map((k) => `"${k}"`).join(", ")} (not an OpenELM config key)`);
  const modelType = need(j, "model_type", file, isStr, `"openelm"`);
  if (modelType !== "openelm") throw new ConfigError(`${file}: field "model_type" is "${modelType}", expected "openelm"`);
  const L = need(j, "num_transformer_layers", file, isPosInt, "a positive integer");
  const D = need(j, "model_dim", file, isPosInt, "a positive integer");
  const hd = need(j, "head_dim", file, isPosInt, "a positive integer");
  if (hd % 2) throw new ConfigError(`${file}: field "head_dim" is ${hd}, expected an even number (RoPE rotates halves)`);
  const ffnDivisor = need(j, "ffn_dim_divisor", file, isPosInt, "a positive integer");
  const ffnRaw = need(j, "ffn_multipliers", file, isNumOrList, "a number or a list of positive numbers");
  const ffn = expandMultipliers(ffnRaw, L, "ffn_multipliers", file);

  const hasLists = "num_query_heads" in j || "num_kv_heads" in j;
  const hasCompact = "qkv_multipliers" in j && "num_gqa_groups" in j;
  let nq: number[], nkv: number[];
  if (hasLists) {
    nq = need(j, "num_query_heads", file, isIntList, "a list of positive integers, one per layer");
    nkv = need(j, "num_kv_heads", file, isIntList, "a list of positive integers, one per layer");
    for (const [key, list] of [["num_query_heads", nq], ["num_kv_heads", nkv]] as const)
      if (list.length !== L) throw new ConfigError(`${file}: field "${key}" has ${list.length} entries, expected num_transformer_layers = ${L}`);
    for (let i = 0; i < L; i++)
      if (nq[i] % nkv[i]) throw new ConfigError(`${file}: layer ${i}: num_query_heads ${nq[i]} is not a multiple of num_kv_heads ${nkv[i]}`);
  } else if (hasCompact) {
    nq = []; nkv = [];
  } else throw new ConfigError(`${file}: missing field "num_query_heads" (expected per-layer lists, or qkv_multipliers with num_gqa_groups)`);

  let qkvMult: number | number[] | undefined, gqa: number | undefined;
  if ("qkv_multipliers" in j) qkvMult = need(j, "qkv_multipliers", file, isNumOrList, "a number or [lo, hi]");
  if ("num_gqa_groups" in j) gqa = need(j, "num_gqa_groups", file, isPosInt, "a positive integer (query heads per KV head)");
  if (qkvMult !== undefined && gqa !== undefined) {
    const derived = deriveHeads({ model_dim: D, head_dim: hd, num_transformer_layers: L, qkv_multipliers: qkvMult, num_gqa_groups: gqa }, file);
    if (!hasLists) { nq = derived.q; nkv = derived.kv; }
    else for (let i = 0; i < L; i++)
      if (nq[i] !== derived.q[i] || nkv[i] !== derived.kv[i])
        throw new ConfigError(`${file}: layer ${i}: num_query_heads/num_kv_heads are ${nq[i]}/${nkv[i]}, but qkv_multipliers ${JSON.stringify(qkvMult)} with num_gqa_groups ${gqa} give ${derived.q[i]}/${derived.kv[i]}`);
  }

  const opt = <T>(key: string, check: (v: unknown) => v is T, expected: string, dflt: T): T =>
    key in j ? need(j, key, file, check, expected) : dflt;
  const act = opt("activation_fn_name", isStr, "a string", "swish");
  if (act !== "swish" && act !== "silu") throw new ConfigError(`${file}: field "activation_fn_name" is "${act}", expected "swish"`);
  const norm = opt("normalization_layer_name", isStr, "a string", "rms_norm");
  if (norm !== "rms_norm") throw new ConfigError(`${file}: field "normalization_layer_name" is "${norm}", expected "rms_norm"`);
  const glu = opt("ffn_with_glu", isBool, "true or false", true);

  const extra: Record<string, unknown> = {};
  for (const k of Object.keys(j)) if (BOOKKEEPING.has(k)) extra[k] = j[k];
  const c: OpenELMConfig = {
    model_type: "openelm",
    vocab_size: need(j, "vocab_size", file, isPosInt, "a positive integer"),
    num_transformer_layers: L, model_dim: D, head_dim: hd,
    num_query_heads: nq, num_kv_heads: nkv, ffn_multipliers: ffn, ffn_dim_divisor: ffnDivisor, ffn_with_glu: glu,
    qkv_multipliers: qkvMult, num_gqa_groups: gqa,
    normalize_qk_projections: opt("normalize_qk_projections", isBool, "true or false", true),
    share_input_output_layers: opt("share_input_output_layers", isBool, "true or false", true),
    rope_freq_constant: opt("rope_freq_constant", isPosNum, "a positive number", 10000),
    rope_max_length: opt("rope_max_length", isPosInt, "a positive integer", 4096),
    max_context_length: need(j, "max_context_length", file, isPosInt, "a positive integer"),
    activation_fn_name: act, normalization_layer_name: norm,
    bos_token_id: opt("bos_token_id", isInt, "an integer", 1),
    eos_token_id: opt("eos_token_id", isInt, "an integer", 2),
    torch_dtype: typeof j.torch_dtype === "string" ? j.torch_dtype : undefined,
    extra,
  };
  if (!glu) throw new ConfigError(`${file}: field "ffn_with_glu" is false; only the GLU feed-forward of published OpenELM is supported`);
  return c;
}

/** The config as config.json stores it (HF layout, sorted keys, as json.dumps(indent=2, sort_keys=True)). */
export function configToJson(c: OpenELMConfig): string {
  const o: Record<string, unknown> = { ...c.extra };
  for (const k of MODEL_KEYS) {
    const v = (c as unknown as Record<string, unknown>)[k];
    if (v !== undefined) o[k] = v;
  }
  if (c.torch_dtype) o.torch_dtype = c.torch_dtype;
  const sorted = Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));
  return JSON.stringify(sorted, null, 2) + "\n";
}
