// openelm generate [PROMPT]: stream a continuation of the prompt (or of --tokens) to stdout.

import type { Command } from "commander";
import { generate, type GenerateOptions, type GenerateResult } from "../generate/generate.js";
import { logitBiasEntries } from "../generate/options.js";
import { collect, generationArg, idsArg, logitBiasArg, UsageError } from "./args.js";
import { addModelOptions, addSamplingOptions, openModel, type ModelArgs } from "./model_args.js";

interface Opts extends ModelArgs {
  maxNewTokens: number; temperature: number; topK: number; topP: number; minP: number; repetitionPenalty: number;
  seed: number; stop: string[]; ignoreEos?: boolean; tokens?: number[]; json?: boolean; promptLookup: number;
  contextLength?: number; stats?: boolean; echo?: boolean; logitBias?: Record<string, number>;
}

export function register(program: Command): void {
  const cmd = program.command("generate")
    .description("generate text from a prompt (streams to stdout; greedy unless --temperature > 0)")
    .argument("[prompt]", "prompt text (BOS is prepended)");
  addModelOptions(cmd)
    .option("-n, --max-new-tokens <n>", "tokens to generate at most", generationArg("maxNewTokens"), 64);
  addSamplingOptions(cmd)
    .option("--min-p <p>", "drop tokens below p × the top probability (0 = off)", generationArg("minP"), 0)
    .option("--stop <str>", "stop when this text appears (repeatable); it is left out of the text and of --json's tokens", collect, [])
    .option("--ignore-eos", "keep generating after EOS")
    .option("--logit-bias <ID=BIAS,...>", "add BIAS (-100 … 100) to token ID's logit before sampling; -100 in effect bans it (repeatable)", logitBiasArg)
    .option("--tokens <ids>", "prompt as token ids, e.g. 1,450,4996 (instead of text)", idsArg)
    .option("--json", "print one JSON object {tokens, text, ...} at the end instead of streaming")
    .option("--prompt-lookup <n>", "greedy prompt-lookup speculative decoding: propose n tokens a step (0 = off)", generationArg("promptLookupNumTokens"), 0)
    .option("--context-length <n>", "context size; above max_context_length runs past the trained context (opt-in)", generationArg("contextLength"))
    .option("--echo", "print the prompt before the continuation")
    .option("--stats", "print token counts and speed to stderr")
    .action(async (prompt: string | undefined, o: Opts) => {
      if (prompt !== undefined && o.tokens) throw new UsageError("give a PROMPT or --tokens, not both");
      const { model, tokenizer, generationConfig } = await openModel(o);
      const promptIds = o.tokens ?? tokenizer.encode(prompt ?? "");
      if (o.logitBias) logitBiasEntries(o.logitBias, model.config.vocab_size, "--logit-bias"); // the ids against this vocabulary
      const eos = generationConfig.eos_token_id;
      if (eos !== undefined && eos !== tokenizer.eosId && !(Array.isArray(eos) && eos.includes(tokenizer.eosId)))
        process.stderr.write(`openelm: note: generation_config.json eos_token_id ${JSON.stringify(eos)}; stopping at ${tokenizer.eosId}\n`);
      const options: GenerateOptions = {
        maxNewTokens: o.maxNewTokens, temperature: o.temperature, topK: o.topK, topP: o.topP, minP: o.minP,
        repetitionPenalty: o.repetitionPenalty, seed: o.seed, stop: o.stop, ignoreEos: o.ignoreEos,
        promptLookupNumTokens: o.promptLookup, contextLength: o.contextLength, logitBias: o.logitBias,
      };
      const t0 = performance.now();
      const it = generate(model, tokenizer, promptIds, options);
      let r: IteratorResult<{ text: string }, GenerateResult>;
      // --tokens: the prompt's text as the tokenizer decodes it (BOS and other control tokens print as nothing)
      if (!o.json && o.echo) process.stdout.write(prompt ?? tokenizer.decode(promptIds));
      while (!(r = await it.next()).done) if (!o.json) process.stdout.write(r.value.text);
      const res = r.value;
      const secs = (performance.now() - t0) / 1000;
      if (o.json) {
        process.stdout.write(JSON.stringify({ tokens: res.tokens, text: res.text, finish_reason: res.finishReason,
          prompt_tokens: res.promptTokens, forward_passes: res.forwardPasses, forward_passes_saved: res.forwardPassesSaved }) + "\n");
      } else process.stdout.write("\n");
      if (o.stats || o.promptLookup > 0)
        process.stderr.write(`[${res.promptTokens} prompt tokens, ${res.tokens.length} generated in ${secs.toFixed(2)} s ` +
          `(${(res.tokens.length / secs).toFixed(1)} tok/s), ${res.forwardPasses} forward passes` +
          (o.promptLookup > 0 ? `, prompt lookup saved ${res.forwardPassesSaved}` : "") + `, finish: ${res.finishReason}, backend ${model.backend.name}]\n`);
      model.backend.dispose?.();
    });
}
