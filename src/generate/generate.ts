// Token-by-token generation as an async iterator: prefill the prompt, then decode one token a step
// through the KV cache (or several, verified, with prompt lookup). Stops on EOS, stop strings,
// max new tokens, the context limit, or an AbortSignal.

import { InputError } from "../errors.js";
import type { OpenELMModel } from "../models/openelm.js";
import type { KVCache } from "../models/kv_cache.js";
import type { Tokenizer } from "../tokenizer/sentencepiece.js";
import { validateGenerationOptions } from "./options.js";
import { lookupCandidates } from "./prompt_lookup.js";
import { Sequence } from "./sequence.js";

export interface GenerateOptions {
  /** Tokens to generate at most (default 128). */
  maxNewTokens?: number;
  /** 0 = greedy (default). */
  temperature?: number;
  /** 0 = off. */
  topK?: number;
  /** 1 = off. */
  topP?: number;
  /** 0 = off. */
  minP?: number;
  /** HF repetition_penalty; 1 = off (Apple's examples use 1.2). */
  repetitionPenalty?: number;
  /** OpenAI presence / frequency penalties over generated tokens; 0 = off. */
  presencePenalty?: number;
  frequencyPenalty?: number;
  /** Seed of the sampler (default 0): the same seed gives the same tokens. */
  seed?: number;
  /**
   * Stop when the text contains one of these. The stop string is left out of the text and the tokens both
   * (as OpenAI and vLLM report text): `tokens` ends before the token in which the stop string begins.
   */
  stop?: string[];
  /** Keep going past EOS. */
  ignoreEos?: boolean;
  /**
   * Added to a token's logit before anything else (OpenAI's logit_bias): token id (a number, or its decimal
   * string as JSON keys are) -> bias in [-100, 100]; -100 in effect bans a token, 100 forces it.
   */
  logitBias?: Record<string, number>;
  /** Greedy only: propose this many tokens from the prompt per step (0 = off). */
  promptLookupNumTokens?: number;
  /**
   * Context size for this run (default max_context_length). Larger values run past the trained context:
   * RoPE has no hard limit but quality degrades; the opt-in policy documented in the README.
   */
  contextLength?: number;
  /** Abort generation (the iterator ends with finishReason "abort"). */
  signal?: AbortSignal;
  /** Continue from an existing cache holding a prefix of promptIds (chat turns). */
  cache?: KVCache;
}

export interface GenerateStep {
  /** The token chosen at this step; -1 for the final flush of held-back text. */
  token: number;
  /** Text that became printable with it (may be "" mid-character or while a stop string is undecided). */
  text: string;
}

export type FinishReason = "stop" | "eos" | "length" | "abort";

/** The end of a generation, as the library, the engine worker and the server report it. */
export interface Completion {
  text: string;
  tokens: number[];
  /** "eos": the model ended its reply; "stop": a stop string; "length": max tokens or context; "abort": cancelled. */
  finishReason: FinishReason;
  promptTokens: number;
  completionTokens: number;
  /** Prompt tokens whose KV entries were reused (an earlier turn, the prefix cache) instead of being computed. */
  cachedPromptTokens: number;
}

export interface GenerateResult {
  tokens: number[];
  text: string;
  finishReason: FinishReason;
  promptTokens: number;
  /** The cache after generation (holds prompt and generated tokens but the last), for the next chat turn. */
  cache: KVCache;
  /** Prompt tokens that were already in the given cache and not recomputed. */
  cachedPromptTokens: number;
  forwardPasses: number;
  /** Forward passes prompt lookup saved against one pass per token. */
  forwardPassesSaved: number;
}

const yieldToEventLoop = () => new Promise<void>((r) => setImmediate(r));

/**
 * Generate after promptIds (which should start with BOS). Yields a GenerateStep per token; the iterator's
 * return value is the GenerateResult. Throws InputError when the prompt does not fit the context.
 */
export async function* generate(model: OpenELMModel, tokenizer: Tokenizer, promptIds: number[],
  opts: GenerateOptions = {}): AsyncGenerator<GenerateStep, GenerateResult, void> {
  validateGenerationOptions(opts);
  const maxNew = opts.maxNewTokens ?? 128;
  const ctx = opts.contextLength ?? model.config.max_context_length;
  const V = model.config.vocab_size;
  if (promptIds.length === 0) throw new InputError("prompt: no tokens (encode with BOS to start from nothing)");
  if (promptIds.length >= ctx)
    throw new InputError(`prompt of ${promptIds.length} tokens does not fit the context of ${ctx} tokens (max_context_length); shorten it`);
  const seq = new Sequence(tokenizer, promptIds, opts, V);
  const lookup = seq.greedy ? (opts.promptLookupNumTokens ?? 0) : 0;

  // Reuse the longest prefix of a given cache (a chat's earlier turns); compute the rest.
  let cache = opts.cache;
  let cached = 0;
  if (cache && cache.maxLen >= Math.min(ctx, promptIds.length + maxNew)) {
    cached = Math.min(cache.commonPrefix(promptIds), promptIds.length - 1); // forward at least one token
    cache.truncate(cached);
  } else cache = model.newCache(ctx);
  const { ids, tokens } = seq;

  let forwardPasses = 1;
  // forward() returns a view of the model's work buffer: copy it, since other generations on the same
  // model may run forward before this one reads its row again (after the await below).
  const logits = new Float32Array(V);
  logits.set(await model.forwardAsync(promptIds.slice(cached), cache));
  let finishReason: FinishReason = "length";

  const verified: number[] = []; // prompt-lookup tokens already checked and already in the cache
  while (tokens.length < maxNew) {
    if (opts.signal?.aborted) { finishReason = "abort"; break; }
    const fromVerified = verified.length > 0;
    const next = fromVerified ? verified.shift()! : seq.choose(logits);
    const emit = seq.push(next);
    if (emit === null) { finishReason = "eos"; break; }
    yield { token: next, text: emit };
    if (seq.finishReason) { finishReason = seq.finishReason; break; }
    if (fromVerified) continue; // already in the cache; logits already predict what follows
    if (cache.length + 1 > ctx) { finishReason = "length"; break; }

    // Feed the new token, plus prompt-lookup candidates when speculating.
    const room = Math.min(lookup, ctx - cache.length - 1, maxNew - tokens.length - 1);
    const cand = room > 0 ? lookupCandidates(ids, room) : [];
    forwardPasses++;
    if (cand.length === 0) logits.set(await model.forwardAsync([next], cache));
    else {
      const all = await model.forwardAsync([next, ...cand], cache, { allLogits: true });
      // Row j predicts the token after [next, cand_0 … cand_{j-1}]; accept candidates while greedy agrees.
      let accepted = 0;
      while (accepted < cand.length &&
        seq.choose(all.subarray(accepted * V, (accepted + 1) * V), [...ids, ...cand.slice(0, accepted)]) === cand[accepted]) accepted++;
      cache.truncate(cache.length - (cand.length - accepted)); // drop rejected positions
      verified.push(...cand.slice(0, accepted));
      logits.set(all.subarray(accepted * V, (accepted + 1) * V));
    }
    await yieldToEventLoop();
  }
  cache.truncate(Math.min(cache.length, ids.length)); // a stop inside verified tokens leaves extra positions
  const tail = seq.finish(finishReason);
  if (tail) yield { token: -1, text: tail };
  const text = seq.text;
  return { tokens, text, finishReason, promptTokens: promptIds.length, cache, cachedPromptTokens: cached,
    forwardPasses, forwardPassesSaved: Math.max(0, tokens.length - forwardPasses) };
}
