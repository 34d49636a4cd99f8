// openelm score --jsonl: the log-probability a model (optionally with --adapter) gives a completion, one JSON
// line in, one out, in input order. Input lines:
//   {"prompt": "...", "completion": "..."}        prompt encoded with BOS; the completion's tokens are the joint
//                                                encoding's tail, lm-eval style (eval/requests.ts encodePair: the
//                                                prompt's trailing whitespace moves into the completion)
//   {"messages": [...], "completion": "..."}      messages rendered with the chat template, assistant turn opened,
//                                                the completion appended (tokens = tail of the joint encoding)
//   {"prompt_ids": [...], "completion_ids": [...]} token ids as they are
// Output: {"logprob": summed log-prob of the completion tokens, "tokens": their count, "greedy": true when each is
// the argmax at its position (greedy decoding would produce exactly them)}. Scoring is eval/loglik.ts's (the
// KV cache of a prefix shared with the previous line is reused; inputs longer than the context are cut on the left).

import type { Command } from "commander";
import * as readline from "node:readline";
import { InputError } from "../errors.js";
import { LoglikScorer } from "../eval/loglik.js";
import { encodePair } from "../eval/requests.js";
import { encodeChatPrompt, readChatTemplate, renderChat, validateMessages } from "../tokenizer/chat_template.js";
import type { Tokenizer } from "../tokenizer/sentencepiece.js";
import { addModelOptions, openModel, type ModelArgs } from "./model_args.js";

/** Context and completion ids of one input line; InputError naming `where` and the field otherwise. */
export function scoreRequest(value: unknown, tok: Tokenizer, template: string | undefined, vocab: number, where: string): { context: number[]; completion: number[] } {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new InputError(`${where}: expected a JSON object`);
  const o = value as Record<string, unknown>;
  const ids = (key: string): number[] => {
    const v = o[key];
    if (!Array.isArray(v) || v.length === 0 || !v.every((x) => Number.isInteger(x) && x >= 0 && x < vocab))
      throw new InputError(`${where}: "${key}" must be a non-empty list of token ids 0 … ${vocab - 1}`);
    return v as number[];
  };
  if ("prompt_ids" in o || "completion_ids" in o) return { context: ids("prompt_ids"), completion: ids("completion_ids") };
  if (typeof o.completion !== "string" || o.completion === "") throw new InputError(`${where}: "completion" must be a non-empty string`);
  const completion = o.completion;
  let context: number[], cont: number[];
  if ("messages" in o) {
    try { validateMessages(o.messages); } catch (e) { throw new InputError(`${where}: ${(e as Error).message}`); }
    const text = renderChat(o.messages, { template, addGenerationPrompt: true });
    context = encodeChatPrompt(tok, text);
    cont = encodeChatPrompt(tok, text + completion).slice(context.length);
  } else if (typeof o.prompt === "string") {
    if (o.prompt === "") throw new InputError(`${where}: "prompt" is empty (BOS alone is the prompt: use prompt_ids [1])`);
    const r = encodePair(tok, o.prompt, completion);
    context = r.contextIds;
    cont = r.continuationIds;
  } else throw new InputError(`${where}: expected {"prompt", "completion"}, {"messages", "completion"} or {"prompt_ids", "completion_ids"}`);
  if (cont.length === 0) throw new InputError(`${where}: the completion encodes to no tokens of its own`);
  return { context, completion: cont };
}

export function register(program: Command): void {
  const cmd = program.command("score")
    .description("log-probability of completions: JSON lines {prompt|messages|prompt_ids, completion|completion_ids} on stdin → {logprob, tokens, greedy}")
    .option("--jsonl", "read JSON lines on stdin, write one JSON line each (the only mode)");
  addModelOptions(cmd).action(async (o: ModelArgs & { jsonl?: boolean }) => {
    if (!o.jsonl) throw new InputError("score: give --jsonl (JSON lines on stdin, one result line each)");
    const { model, tokenizer, backend, dir } = await openModel(o);
    const template = dir.endsWith(".gguf") ? undefined : readChatTemplate(dir);
    const scorer = new LoglikScorer(model, model.config.max_context_length);
    const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
    let n = 0;
    try {
      for await (const line of rl) {
        n++;
        if (line.trim() === "") continue;
        let value: unknown;
        try { value = JSON.parse(line); } catch (e) { throw new InputError(`stdin:${n}: malformed JSON (${(e as Error).message})`); }
        const { context, completion } = scoreRequest(value, tokenizer, template, model.config.vocab_size, `stdin:${n}`);
        const r = scorer.score(context, completion);
        process.stdout.write(JSON.stringify({ logprob: r.loglikelihood, tokens: completion.length, greedy: r.isGreedy }) + "\n");
      }
    } finally {
      backend.dispose?.();
    }
  });
}
