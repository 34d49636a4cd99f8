// Requests as lm-evaluation-harness (dc90fec) builds and tokenises them.
// Context (api/task.py fewshot_context, api/samplers.py get_context): description + shots + doc_to_text(doc), with
// shots = "\n\n".join(text + " " + gold choice) + "\n\n"; one request per choice: (context, " " + choice) (" " is the
// task's target_delimiter), or for
// WinoGrande-style tasks (doc_to_text is an index) (context + choice, " " + target).
// Tokens (api/model.py TemplateLM._encode_pair, models/huggingface.py tok_encode with add_bos_token=True): the
// context's trailing whitespace moves to the continuation; whole = encode(context + continuation) and
// ctx = encode(context), both with BOS; continuation ids = whole[len(ctx):] (split on the joint encoding).
// Model input (HFLM._loglikelihood_tokens): (ctx + cont)[-(max_length+1):][:-1], truncated on the left.

import { DataError } from "../errors.js";
import { pythonRstrip } from "./python_str.js";
import type { MultipleChoiceTask } from "./task.js";

/** What the request builder needs from a tokenizer (src/tokenizer's Tokenizer satisfies it). */
export interface EvalTokenizer {
  encode(text: string, opts?: { bos?: boolean }): number[];
  readonly eosId: number;
}

export const TARGET_DELIMITER = " ";
export const FEWSHOT_DELIMITER = "\n\n";

export interface Request {
  context: string;
  continuation: string;
  /** After the whitespace move (equal to context / continuation when the context ends in no whitespace). */
  encodedContext: string;
  encodedContinuation: string;
  /** Context ids with BOS, not truncated. */
  contextIds: number[];
  continuationIds: number[];
}

export interface DocRequests<D = unknown> {
  docIndex: number;
  doc: D;
  /** Gold choice index (-100 when the target is not among the choices, as lm-eval marks it). */
  gold: number;
  choices: string[];
  requests: Request[];
}

/** One solved example: lm-eval's sampler text for a shot (doc_to_text + " " + target text). */
function shotText<D>(task: MultipleChoiceTask<D>, doc: D): string {
  const text = task.docToText(doc);
  const target = task.docToTarget(doc);
  const choices = task.docToChoice(doc);
  return (typeof text === "number" ? choices[text] : text) + (task.targetDelimiter ?? TARGET_DELIMITER) +
    (typeof target === "string" ? target : String(choices[target]));
}

/** description + few-shot block (no doc text: the caller appends it, or the choices for partial scoring). */
export function contextPrefix<D>(task: MultipleChoiceTask<D>, shots: D[]): string {
  const description = task.description ?? "";
  if (shots.length === 0) return description;
  return description + shots.map((s) => shotText(task, s)).join(FEWSHOT_DELIMITER) + FEWSHOT_DELIMITER;
}

/** The (context, continuation) string pairs of one document, in choice order, and its gold index. */
export function buildDocStrings<D>(task: MultipleChoiceTask<D>, doc: D, shots: D[]):
  { pairs: Array<[string, string]>; gold: number; choices: string[] } {
  const prefix = contextPrefix(task, shots);
  const text = task.docToText(doc);
  const choices = task.docToChoice(doc);
  const target = task.docToTarget(doc);
  const delim = task.targetDelimiter ?? TARGET_DELIMITER;
  if (typeof text === "number") {
    if (typeof target !== "string") throw new DataError(`${task.name}: partial scoring needs a text target`);
    return { pairs: choices.map((c) => [prefix + c, delim + target]), gold: text < choices.length ? text : -100, choices };
  }
  const gold = typeof target === "string" ? choices.indexOf(target) : target;
  return {
    pairs: choices.map((c) => [prefix + text, delim + c]),
    gold: gold >= 0 && gold < choices.length ? gold : -100,
    choices,
  };
}

/** lm-eval's _encode_pair with BOS on both encodings; an empty context becomes [EOS] as in HFLM.loglikelihood. */
export function encodePair(tok: EvalTokenizer, context: string, continuation: string): Request {
  if (context === "") {
    return { context, continuation, encodedContext: "", encodedContinuation: continuation,
      contextIds: [tok.eosId], continuationIds: tok.encode(continuation, { bos: true }) };
  }
  const kept = pythonRstrip(context);
  const encodedContext = kept;
  const encodedContinuation = context.slice(kept.length) + continuation;
  const whole = tok.encode(encodedContext + encodedContinuation, { bos: true });
  const contextIds = tok.encode(encodedContext, { bos: true });
  return { context, continuation, encodedContext, encodedContinuation, contextIds, continuationIds: whole.slice(contextIds.length) };
}

/** The model input for a (context, continuation) id pair: left-truncated to maxLength, last token dropped. */
export function modelInput(contextIds: number[], continuationIds: number[], maxLength: number):
  { input: number[]; truncated: boolean } {
  const whole = contextIds.concat(continuationIds);
  const kept = whole.slice(Math.max(0, whole.length - (maxLength + 1)));
  return { input: kept.slice(0, -1), truncated: whole.length > maxLength + 1 };
}
