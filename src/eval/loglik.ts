// Log-likelihood scoring of (context ids, continuation ids) pairs, as HFLM._loglikelihood_tokens (lm-eval
// dc90fec): input = (ctx + cont)[-(max_length+1):][:-1]; log-softmax over the vocabulary at the last len(cont)
// positions; loglikelihood = sum of the continuation tokens' log-probs; is_greedy = each is the argmax.
// One KV cache is kept across requests: the longest common prefix with the previous input is not run again
// (the choices of a multiple-choice question share their whole context), and positions whose logits are not
// scored run without the vocabulary projection. Shapes: T tokens of one call, V vocabulary.

import { InputError } from "../errors.js";
import { modelInput } from "./requests.js";

/** What the scorer needs from a model (OpenELMModel satisfies it). */
export interface LogitsModel {
  newCache(maxLen?: number): ScorerCache;
  forward(ids: number[], cache: ScorerCache, opts: { allLogits?: boolean }): Float32Array;
}

export interface ScorerCache {
  length: number;
  truncate(n: number): void;
}

export interface LoglikResult {
  loglikelihood: number;
  isGreedy: boolean;
  tokenLogprobs: number[];
  inputLen: number;
  truncated: boolean;
}

export interface ScorerStats {
  requests: number;
  /** Tokens run through the model. */
  forwardTokens: number;
  /** Tokens a scorer without prefix reuse would have run (the sum of input lengths). */
  inputTokens: number;
  /** Continuation tokens scored. */
  scoredTokens: number;
}

export class LoglikScorer {
  readonly stats: ScorerStats = { requests: 0, forwardTokens: 0, inputTokens: 0, scoredTokens: 0 };
  private cache: ScorerCache;
  private cached: number[] = [];

  /** reusePrefix false runs every input from position 0 (the baseline the saving is measured against). */
  constructor(private readonly model: LogitsModel, readonly maxLength: number, private readonly reusePrefix = true) {
    this.cache = model.newCache(maxLength);
  }

  /** Forward tokens saved by reusing shared prefixes. */
  get savedTokens(): number {
    return this.stats.inputTokens - this.stats.forwardTokens;
  }

  score(contextIds: number[], continuationIds: number[]): LoglikResult {
    const C = continuationIds.length;
    if (C === 0) throw new InputError("loglikelihood: empty continuation (nothing to score)");
    if (C > this.maxLength) throw new InputError(`loglikelihood: continuation of ${C} tokens exceeds max_length ${this.maxLength}`);
    const { input, truncated } = modelInput(contextIds, continuationIds, this.maxLength);
    const T = input.length;
    const first = T - C; // input position whose logits predict the first continuation token

    let reuse = 0;
    const limit = this.reusePrefix ? Math.min(first, this.cached.length, this.cache.length) : 0;
    while (reuse < limit && this.cached[reuse] === input[reuse]) reuse++;
    this.cache.truncate(reuse);
    this.cached = input;
    if (reuse < first) this.model.forward(input.slice(reuse, first), this.cache, { allLogits: false });
    const logits = this.model.forward(input.slice(first), this.cache, { allLogits: true }); // (C, V)
    const V = logits.length / C;

    const tokenLogprobs: number[] = new Array(C);
    let ll = 0;
    let isGreedy = true;
    for (let i = 0; i < C; i++) {
      const row = logits.subarray(i * V, (i + 1) * V);
      const target = continuationIds[i];
      let max = -Infinity, arg = 0;
      for (let v = 0; v < V; v++) if (row[v] > max) { max = row[v]; arg = v; }
      let sum = 0;
      for (let v = 0; v < V; v++) sum += Math.exp(row[v] - max);
      const lp = row[target] - max - Math.log(sum);
      tokenLogprobs[i] = lp;
      ll += lp;
      if (arg !== target) isGreedy = false; // torch argmax: the first maximum
    }
    const s = this.stats;
    s.requests++;
    s.forwardTokens += T - reuse;
    s.inputTokens += T;
    s.scoredTokens += C;
    return { loglikelihood: ll, isGreedy, tokenLogprobs, inputLen: T, truncated };
  }
}
