// openelm perplexity: lm-eval's rolling-window perplexity of a text file (word_perplexity, byte_perplexity,
// bits_per_byte; windows of --max-length tokens, EOS as the prefix token, BOS in the token list).

import { existsSync, readFileSync } from "node:fs";
import type { Command } from "commander";
import { DataError } from "../errors.js";
import { perplexity } from "../eval/perplexity.js";
import { intArg } from "./args.js";
import { addModelOptions, openModel, type ModelArgs } from "./model_args.js";

export function register(program: Command): void {
  const cmd = program.command("perplexity")
    .description("rolling-window perplexity of a text file, as lm-eval's loglikelihood_rolling")
    .argument("<file>", "UTF-8 text file")
    .option("--max-length <n>", "window length (default: the model's max_context_length)", intArg(1))
    .option("--json", "print the result as JSON");
  addModelOptions(cmd).action(async (file: string, o: ModelArgs & { maxLength?: number; json?: boolean }) => {
    if (!existsSync(file)) throw new DataError(`${file}: no such text file`);
    const text = readFileSync(file, "utf8");
    const { model, tokenizer, backend } = await openModel(o);
    const maxLength = o.maxLength ?? model.config.max_context_length;
    const r = perplexity(model, tokenizer, text, { maxLength });
    backend.dispose?.();
    const summary = {
      file, max_length: maxLength, tokens: r.tokens, windows: r.windows.length, words: r.words, bytes: r.bytes,
      loglikelihood: r.loglikelihood, word_perplexity: r.word_perplexity, byte_perplexity: r.byte_perplexity,
      bits_per_byte: r.bits_per_byte, token_perplexity: r.token_perplexity, seconds: r.seconds,
    };
    if (o.json) { process.stdout.write(JSON.stringify(summary, null, 2) + "\n"); return; }
    process.stdout.write(`${file}: ${r.tokens} tokens (BOS included), ${r.windows.length} windows of ${maxLength}, ${r.words} words, ${r.bytes} bytes\n` +
      `word_perplexity ${r.word_perplexity.toPrecision(10)}\nbyte_perplexity ${r.byte_perplexity.toPrecision(10)}\n` +
      `bits_per_byte ${r.bits_per_byte.toPrecision(10)}\ntoken_perplexity ${r.token_perplexity.toPrecision(10)}\nloglikelihood ${r.loglikelihood.toFixed(4)} (${(r.stats.forwardTokens / r.seconds).toFixed(0)} tokens/s)\n`);
  });
}
