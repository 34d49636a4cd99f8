// One sequence's generation state, apart from the forward passes: the logits processors and the sampler
// that choose each token, the streamed detokenization, stop strings, EOS and max-tokens. generate.ts drives
// one sequence with its own forward calls; batch.ts drives many through batched forwards. Same choices.

import type { Tokenizer } from "../tokenizer/sentencepiece.js";
import { StreamDecoder } from "../tokenizer/stream_decoder.js";
import type { FinishReason, GenerateOptions } from "./generate.js";
import { logitBiasEntries } from "./options.js";
import { applyMinP, applyPresenceFrequency, applyRepetitionPenalty, applyTemperature, applyTopK, applyTopP } from "./logits.js";
import { argmax, Rng, sample } from "./sampler.js";
import { StopMatcher } from "./stop.js";

export class Sequence {
  /** Prompt then generated ids. */
  readonly ids: number[];
  /** Generated ids (an EOS that ended generation included; after a stop string, those wholly before it). */
  readonly tokens: number[] = [];
  text = "";
  /** Set once generation has ended. */
  finishReason: FinishReason | null = null;
  readonly maxNew: number;
  readonly greedy: boolean;
  private readonly rng: Rng;
  private readonly stops: StopMatcher;
  private readonly decoder: StreamDecoder;
  private readonly row: Float32Array;
  private readonly bias: Array<[number, number]>;
  /** decodedEnd[i]: length of the decoded text through tokens[i] (before stop strings). */
  private readonly decodedEnd: number[] = [];

  constructor(private readonly tokenizer: Tokenizer, readonly promptIds: number[], private readonly opts: GenerateOptions, vocab: number) {
    this.ids = promptIds.slice();
    this.maxNew = opts.maxNewTokens ?? 128;
    this.greedy = (opts.temperature ?? 0) === 0;
    this.rng = new Rng(opts.seed ?? 0);
    this.stops = new StopMatcher(opts.stop?.filter((s) => s.length > 0) ?? []);
    this.decoder = new StreamDecoder(tokenizer, promptIds[promptIds.length - 1]);
    this.row = new Float32Array(vocab);
    this.bias = opts.logitBias ? logitBiasEntries(opts.logitBias, vocab) : [];
    if (this.maxNew === 0) this.finishReason = "length";
  }

  /**
   * Apply the processors to a logits row with `context` before it (default: all ids so far) and choose a token.
   * kernel: the backend's argmax, when src is in the backend's memory (Backend.argmax).
   */
  choose(src: Float32Array, context: number[] = this.ids, kernel?: (x: Float32Array) => number): number {
    const o = this.opts, row = this.row;
    const presence = o.presencePenalty ?? 0, frequency = o.frequencyPenalty ?? 0;
    // greedy with no penalty reads the logits where they are (no 32,000-float copy a token)
    if (this.greedy && (o.repetitionPenalty ?? 1) === 1 && !presence && !frequency && !this.bias.length) return kernel ? kernel(src) : argmax(src);
    row.set(src);
    for (const [id, b] of this.bias) row[id] += b; // first, as OpenAI and llama.cpp apply it
    applyRepetitionPenalty(row, context, o.repetitionPenalty ?? 1);
    if (presence || frequency) applyPresenceFrequency(row, context.slice(this.promptIds.length), presence, frequency); // no per-token copy when off
    if (this.greedy) return argmax(row);
    applyTemperature(row, o.temperature ?? 0);
    applyTopK(row, o.topK ?? 0);
    applyTopP(row, o.topP ?? 1);
    applyMinP(row, o.minP ?? 0);
    return sample(row, this.rng);
  }

  /**
   * Take the chosen token: returns the text it makes printable, or null when it is an EOS that ends
   * generation (nothing to emit). Sets finishReason when the sequence ends with it (eos, stop, max tokens).
   */
  push(next: number): string | null {
    this.ids.push(next);
    this.tokens.push(next);
    if (next === this.tokenizer.eosId && !this.opts.ignoreEos) { this.finishReason = "eos"; return null; }
    const decoded = this.decoder.push(next);
    this.decodedEnd.push((this.decodedEnd.at(-1) ?? 0) + decoded.length);
    const piece = this.stops.push(decoded);
    this.text += piece.emit;
    if (piece.stopped) {
      this.finishReason = "stop";
      // the text ends where the stop string begins: keep the tokens whose text lies wholly before it
      let keep = 0;
      while (keep < this.tokens.length && this.decodedEnd[keep] <= this.text.length) keep++;
      this.tokens.length = keep;
    } else if (this.tokens.length >= this.maxNew) this.finishReason = "length";
    return piece.emit;
  }

  /** End generation (if not yet ended) and return held-back text (none after a stop string). */
  finish(reason: FinishReason): string {
    this.finishReason ??= reason;
    const tail = this.finishReason === "stop" ? "" : this.stops.flush() + this.decoder.flush();
    this.text += tail;
    return tail;
  }
}
