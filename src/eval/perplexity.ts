// Rolling-window perplexity as lm-evaluation-harness (dc90fec) computes it: HFLM.loglikelihood_rolling with
// utils.get_rolling_token_windows + make_disjoint_window. tokens = encode(text) (with add_bos_token=True the BOS
// is part of the token list, so P(<s> | </s>) is scored), prefix token = EOS; the first window predicts
// tokens[:L] from [EOS] + tokens[:L-1]; later windows predict up to L new tokens with one token of context,
// the last one given a full L-token input. Metrics (api/metrics.py, wikitext task): word_perplexity =
// exp(-Σll / words) with words = len(re.split(r"\s+", text)), byte_perplexity = exp(-Σll / UTF-8 bytes),
// bits_per_byte = -Σll / bytes / ln 2.

import { InputError } from "../errors.js";
import { LoglikScorer, type LogitsModel, type ScorerStats } from "./loglik.js";
import type { EvalTokenizer } from "./requests.js";
import { pythonSplitCount } from "./python_str.js";

export interface Window {
  /** Context ids after make_disjoint_window (the tokens only conditioned on). */
  contextIds: number[];
  /** Ids predicted (scored) in this window. */
  predictedIds: number[];
}

/** get_rolling_token_windows(tokens, prefix, maxLen, context_len=1) mapped through make_disjoint_window. */
export function rollingWindows(tokens: number[], prefixToken: number, maxLen: number): Window[] {
  if (tokens.length === 0) return [];
  const windows: Window[] = [];
  const disjoint = (ctx: number[], pred: number[]): Window => ({ contextIds: ctx.slice(0, ctx.length - (pred.length - 1)), predictedIds: pred });
  const firstLen = Math.min(maxLen, tokens.length);
  windows.push(disjoint([prefixToken, ...tokens.slice(0, firstLen - 1)], tokens.slice(0, firstLen)));
  let predicted = firstLen;
  while (predicted < tokens.length) {
    const predLen = Math.min(tokens.length - predicted, maxLen); // pred_len = max_seq_len - context_len + 1
    const end = predicted + predLen;
    windows.push(disjoint(tokens.slice(end - maxLen - 1, end - 1), tokens.slice(end - predLen, end)));
    predicted += predLen;
  }
  return windows;
}

export interface WindowResult extends Window {
  inputLen: number;
  loglikelihood: number;
}

export interface PerplexityResult {
  tokens: number;
  windows: WindowResult[];
  loglikelihood: number;
  words: number;
  bytes: number;
  word_perplexity: number;
  byte_perplexity: number;
  bits_per_byte: number;
  token_perplexity: number;
  tokenLogprobs: number[];
  stats: ScorerStats;
  seconds: number;
}

export interface PerplexityOptions {
  /** Window length (lm-eval's max_length). */
  maxLength: number;
  /** Called after each window. */
  onWindow?: (done: number, total: number) => void;
}

/** Score `text` with rolling windows; the token list starts with BOS (add_bos_token=True), the prefix is EOS. */
export function perplexity(model: LogitsModel, tok: EvalTokenizer, text: string, opts: PerplexityOptions): PerplexityResult {
  const t0 = performance.now();
  if (!Number.isInteger(opts.maxLength) || opts.maxLength < 1) throw new InputError(`--max-length must be a positive integer, got ${opts.maxLength}`);
  const tokens = tok.encode(text, { bos: true });
  const windows = rollingWindows(tokens, tok.eosId, opts.maxLength);
  const scorer = new LoglikScorer(model, opts.maxLength);
  const results: WindowResult[] = [];
  const tokenLogprobs: number[] = [];
  let ll = 0;
  windows.forEach((w, i) => {
    const r = scorer.score(w.contextIds, w.predictedIds);
    results.push({ ...w, inputLen: r.inputLen, loglikelihood: r.loglikelihood });
    tokenLogprobs.push(...r.tokenLogprobs);
    ll += r.loglikelihood;
    opts.onWindow?.(i + 1, windows.length);
  });
  const words = pythonSplitCount(text);
  const bytes = Buffer.byteLength(text, "utf8");
  return {
    tokens: tokens.length, windows: results, loglikelihood: ll, words, bytes,
    word_perplexity: Math.exp(-ll / words),
    byte_perplexity: Math.exp(-ll / bytes),
    bits_per_byte: -ll / bytes / Math.LN2,
    token_perplexity: Math.exp(-ll / tokens.length),
    tokenLogprobs, stats: { ...scorer.stats }, seconds: (performance.now() - t0) / 1000,
  };
}
