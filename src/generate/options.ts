// The one check of generation options. The library (generate()), the CLI (--temperature ...) and the
// server (temperature ...) all call it, so they accept and reject the same values with the same message;
// only the spelling of the option's name differs (`names` maps each option to how the caller spells it).
// Ranges follow the OpenAI API where it has the option (temperature 0-2, penalties -2-2, top_p 0-1) and
// HF's generate() otherwise (top_k, min_p, repetition_penalty > 0).

import { InputError } from "../errors.js";
import type { GenerateOptions } from "./generate.js";

interface Rule { lo: number; hi: number; integer?: boolean; what?: string }

const RULES: Partial<Record<keyof GenerateOptions, Rule>> = {
  maxNewTokens: { lo: 0, hi: 2 ** 31 - 1, integer: true },
  temperature: { lo: 0, hi: 2, what: "0 = greedy" },
  topK: { lo: 0, hi: 2 ** 31 - 1, integer: true, what: "0 = off" },
  topP: { lo: 0, hi: 1, what: "1 = off" },
  minP: { lo: 0, hi: 1, what: "0 = off" },
  repetitionPenalty: { lo: 0.01, hi: 10, what: "1 = off" },
  presencePenalty: { lo: -2, hi: 2, what: "0 = off" },
  frequencyPenalty: { lo: -2, hi: 2, what: "0 = off" },
  seed: { lo: -(2 ** 53 - 1), hi: 2 ** 53 - 1, integer: true },
  promptLookupNumTokens: { lo: 0, hi: 64, integer: true, what: "0 = off" },
  contextLength: { lo: 1, hi: 2 ** 31 - 1, integer: true },
};

/** How an option is spelled where it came from: the library's own keys unless a caller says otherwise. */
export type OptionNames = Partial<Record<keyof GenerateOptions, string>>;

/** The server's (OpenAI / llama.cpp) spelling. */
export const API_NAMES: OptionNames = {
  maxNewTokens: "max_tokens", temperature: "temperature", topK: "top_k", topP: "top_p", minP: "min_p",
  repetitionPenalty: "repetition_penalty", presencePenalty: "presence_penalty", frequencyPenalty: "frequency_penalty",
  seed: "seed", stop: "stop", ignoreEos: "ignore_eos", logitBias: "logit_bias",
};

/** The CLI's flags. */
export const CLI_NAMES: OptionNames = {
  maxNewTokens: "--max-new-tokens", temperature: "--temperature", topK: "--top-k", topP: "--top-p", minP: "--min-p",
  repetitionPenalty: "--repetition-penalty", presencePenalty: "--presence-penalty", frequencyPenalty: "--frequency-penalty",
  seed: "--seed", stop: "--stop", ignoreEos: "--ignore-eos", promptLookupNumTokens: "--prompt-lookup", contextLength: "--context-length",
  logitBias: "--logit-bias",
};

/** An option that failed the check: `option` is its name as the caller spells it. */
export class OptionError extends InputError {
  override name = "InputError";
  constructor(readonly option: string, message: string) { super(message); }
}

/** Throws OptionError ("temperature: -1 is out of range; expected a number in [0, 2] (0 = greedy)") for the first bad option. */
export function validateGenerationOptions(o: GenerateOptions, names: OptionNames = {}): void {
  const name = (k: keyof GenerateOptions) => names[k] ?? k;
  for (const [key, rule] of Object.entries(RULES) as Array<[keyof GenerateOptions, Rule]>) {
    const v = o[key];
    if (v === undefined) continue;
    const range = `${rule.integer ? "an integer" : "a number"} in [${rule.lo}, ${rule.hi}]${rule.what ? ` (${rule.what})` : ""}`;
    if (typeof v !== "number" || !Number.isFinite(v) || (rule.integer && !Number.isInteger(v)))
      throw new OptionError(name(key), `${name(key)}: expected ${range}, got ${JSON.stringify(v) ?? String(v)}`);
    if (v < rule.lo || v > rule.hi)
      throw new OptionError(name(key), `${name(key)}: ${v} is out of range; expected ${range}`);
  }
  if (o.stop !== undefined && (!Array.isArray(o.stop) || !o.stop.every((s) => typeof s === "string")))
    throw new OptionError(name("stop"), `${name("stop")}: expected a list of strings, got ${JSON.stringify(o.stop)}`);
  if (o.ignoreEos !== undefined && typeof o.ignoreEos !== "boolean")
    throw new OptionError(name("ignoreEos"), `${name("ignoreEos")}: expected true or false, got ${JSON.stringify(o.ignoreEos)}`);
  if (o.logitBias !== undefined) logitBiasEntries(o.logitBias, Infinity, name("logitBias"));
}

/**
 * The [token id, bias] pairs of a logit bias, checked: ids are integers in [0, vocab) (JSON gives them as
 * decimal strings), biases numbers in [-100, 100] (OpenAI's range). Throws OptionError naming the entry.
 */
export function logitBiasEntries(bias: unknown, vocab: number, name = "logitBias"): Array<[number, number]> {
  if (typeof bias !== "object" || bias === null || Array.isArray(bias))
    throw new OptionError(name, `${name}: expected an object mapping token ids to biases, got ${JSON.stringify(bias)}`);
  return Object.entries(bias).map(([k, v]) => {
    const id = /^(0|[1-9][0-9]*)$/.test(k) ? Number(k) : NaN;
    if (!(id < vocab)) // NaN too
      throw new OptionError(name, `${name}: key ${JSON.stringify(k)} is not a token id${Number.isFinite(vocab) ? ` (expected an integer in [0, ${vocab - 1}])` : " (expected a non-negative integer)"}`);
    if (typeof v !== "number" || !(v >= -100 && v <= 100))
      throw new OptionError(name, `${name}: the bias of token ${k} must be a number in [-100, 100], got ${JSON.stringify(v)}`);
    return [id, v];
  });
}
