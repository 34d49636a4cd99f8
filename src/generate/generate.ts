// Token-by-token generation as an async iterator: prefill the prompt, then decode one token a step
// through the KV cache (or several, verified, with prompt lookup). Stops on EOS, stop strings,
// max new tokens, the context limit, or an AbortSignal.

import { InputError } from "../errors.js";
import type { OpenELMModel } from "../models/openelm.js";
import type { KVCache } from "../models/kv_cache.js";
import type { Tokenizer } from "../tokenizer/sentencepiece.js";
import { StreamDecoder } from "../tokenizer/stream_decoder.js";
import { applyMinP, applyPresenceFrequency, applyRepetitionPenalty, applyTemperature, applyTopK, applyTopP } from "./logits.js";
import { argmax, Rng, sample } from "./sampler.js";
import { StopMatcher } from "./stop.js";
import { validateGenerationOptions } from "./options.js";
import { lookupCandidates } from "./prompt_lookup.js";

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
  const temperature = opts.temperature ?? 0;
  const ctx = opts.contextLength ?? model.config.max_context_length;
  const V = model.config.vocab_size;
  if (promptIds.length === 0) throw new InputError("prompt: no tokens (encode with BOS to start from nothing)");
  if (promptIds.length >= ctx)
    throw new InputError(`prompt of ${promptIds.length} tokens does not fit the context of ${ctx} tokens (max_context_length); shorten it`);
  const greedy = temperature === 0;
  const rng = new Rng(opts.seed ?? 0);
  const stops = new StopMatcher(opts.stop?.filter((s) => s.length > 0) ?? []);
  const lookup = greedy ? (opts.promptLookupNumTokens ?? 0) : 0;

  // Reuse the longest prefix of a given cache (a chat's earlier turns); compute the rest.
  let cache = opts.cache;
  let cached = 0;
  if (cache && cache.maxLen >= Math.min(ctx, promptIds.length + maxNew)) {
    cached = Math.min(cache.commonPrefix(promptIds), promptIds.length - 1); // forward at least one token
    cache.truncate(cached);
  } else cache = model.newCache(ctx);
  const ids = promptIds.slice();

  let forwardPasses = 1;
  // forward() returns a view of the model's work buffer: copy it, since other generations on the same
  // model may run forward before this one reads its row again (after the await below).
  const logits = new Float32Array(V);
  logits.set(await model.forwardAsync(promptIds.slice(cached), cache));
  const tokens: number[] = [];
  const decodedEnd: number[] = []; // decodedEnd[i]: length of the decoded text through tokens[i] (before stop strings)
  const decoder = new StreamDecoder(tokenizer, promptIds[promptIds.length - 1]);
  let text = "";
  let finishReason: FinishReason = "length";
  const row = new Float32Array(V);

  const presence = opts.presencePenalty ?? 0, frequency = opts.frequencyPenalty ?? 0;
  /** Apply the processors to a logits row with `context` before it and choose a token. */
  const choose = (src: Float32Array, context: number[]): number => {
    row.set(src);
    applyRepetitionPenalty(row, context, opts.repetitionPenalty ?? 1);
    if (presence || frequency) applyPresenceFrequency(row, context.slice(promptIds.length), presence, frequency); // no per-token copy when off
    if (greedy) return argmax(row);
    applyTemperature(row, temperature);
    applyTopK(row, opts.topK ?? 0);
    applyTopP(row, opts.topP ?? 1);
    applyMinP(row, opts.minP ?? 0);
    return sample(row, rng);
  };

  const verified: number[] = []; // prompt-lookup tokens already checked and already in the cache
  while (tokens.length < maxNew) {
    if (opts.signal?.aborted) { finishReason = "abort"; break; }
    const fromVerified = verified.length > 0;
    const next = fromVerified ? verified.shift()! : choose(logits, ids);
    ids.push(next); tokens.push(next);
    if (next === tokenizer.eosId && !opts.ignoreEos) { finishReason = "eos"; break; }
    const decoded = decoder.push(next);
    decodedEnd.push((decodedEnd.at(-1) ?? 0) + decoded.length);
    const piece = stops.push(decoded);
    text += piece.emit;
    yield { token: next, text: piece.emit };
    if (piece.stopped) {
      finishReason = "stop";
      // text ends where the stop string begins: keep the tokens whose text lies wholly before it
      let keep = 0;
      while (keep < tokens.length && decodedEnd[keep] <= text.length) keep++;
      tokens.length = keep;
      break;
    }
    if (tokens.length >= maxNew) break;
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
        choose(all.subarray(accepted * V, (accepted + 1) * V), [...ids, ...cand.slice(0, accepted)]) === cand[accepted]) accepted++;
      cache.truncate(cache.length - (cand.length - accepted)); // drop rejected positions
      verified.push(...cand.slice(0, accepted));
      logits.set(all.subarray(accepted * V, (accepted + 1) * V));
    }
    await yieldToEventLoop();
  }
  cache.truncate(Math.min(cache.length, ids.length)); // a stop inside verified tokens leaves extra positions
  const tail = finishReason === "stop" ? "" : stops.flush() + decoder.flush();
  if (tail) { text += tail; yield { token: -1, text: tail }; }
  return { tokens, text, finishReason, promptTokens: promptIds.length, cache, cachedPromptTokens: cached,
    forwardPasses, forwardPassesSaved: Math.max(0, tokens.length - forwardPasses) };
}
