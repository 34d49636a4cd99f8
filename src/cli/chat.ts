// openelm chat: an interactive multi-turn conversation in the terminal, streamed as it is generated.
// Each turn re-renders the whole conversation with the chat template (Zephyr for OpenELM-Instruct) and
// reuses the KV cache of the earlier turns (engine.ts ChatSession), reporting the prompt tokens saved.
// When the conversation outgrows the context, the oldest turns are left out (generate/context_window.ts).
// Commands: /reset (forget the conversation), /exit (or end of input). Ctrl-C stops a reply; at the prompt, exits.

import type { Command } from "commander";
import * as readline from "node:readline";
import { loadModel, type GenerationOptions } from "../engine.js";
import { InputError } from "../errors.js";
import { generationArg } from "./args.js";
import { addModelOptions, addSamplingOptions, createBackend, singleAdapter, type ModelArgs } from "./model_args.js";

interface Opts extends ModelArgs {
  system?: string; maxNewTokens?: number; temperature: number; topK: number; topP: number;
  repetitionPenalty: number; seed: number; revision: string; stats: boolean;
}

export function register(program: Command): void {
  const cmd = program.command("chat")
    .description("chat with an -Instruct model in the terminal (streaming; /reset, /exit)");
  addModelOptions(cmd)
    .option("--revision <rev>", "hub revision when --model is a hub id", "main")
    .option("-s, --system <text>", "system message at the start of the conversation")
    .option("-n, --max-new-tokens <n>", "reply length limit in tokens (default: 256, at most half the context)", generationArg("maxNewTokens"));
  addSamplingOptions(cmd)
    .option("--no-stats", "do not print token counts after each reply")
    .action(async (o: Opts) => {
      const backend = await createBackend(o);
      const model = await loadModel(o.model, { backend, revision: o.revision, dtype: o.dtype, adapter: singleAdapter(o) });
      const session = model.chatSession(o.system);
      const tty = process.stdin.isTTY === true;
      const rl = readline.createInterface({ input: process.stdin, output: tty ? process.stdout : undefined, terminal: tty });
      let trimmed = false;
      const options: GenerationOptions = {
        temperature: o.temperature, topK: o.topK, topP: o.topP,
        repetitionPenalty: o.repetitionPenalty, seed: o.seed,
      };
      if (tty) process.stderr.write(`openelm chat: ${model.name} (context ${model.contextLength} tokens). /reset to start over, /exit to quit.\n`);
      let current: AbortController | null = null;
      rl.on("SIGINT", () => { if (current) current.abort(); else rl.close(); });
      const prompt = () => { if (tty) rl.setPrompt("> "), rl.prompt(); };
      prompt();
      for await (const line of rl) {
        const text = line.trim();
        if (text === "/exit" || text === "/quit") break;
        if (text === "/reset") {
          session.reset();
          process.stderr.write("(conversation reset)\n");
          prompt();
          continue;
        }
        if (text === "") { prompt(); continue; }
        const droppedBefore = session.droppedMessages;
        current = new AbortController();
        const t0 = performance.now();
        let g;
        try {
          g = session.send(text, { ...options, maxNewTokens: o.maxNewTokens, signal: current.signal });
        } catch (e) {
          if (!(e instanceof InputError)) throw e; // a message that does not fit even alone
          process.stderr.write(`openelm: ${e.message}\n`);
          current = null;
          prompt();
          continue;
        }
        if (session.droppedMessages > droppedBefore && !trimmed) {
          process.stderr.write(`(the conversation outgrew the context of ${model.contextLength} tokens: leaving out the oldest turns` +
            `${session.system ? ", keeping the system message" : ""})\n`);
          trimmed = true;
        }
        try {
          for await (const piece of g) process.stdout.write(piece);
        } catch (e) {
          // A conversation past the context is the usual cause: say so and keep the session usable.
          process.stdout.write("\n");
          process.stderr.write(`openelm: ${(e as Error).message} (try /reset)\n`);
          current = null;
          prompt();
          continue;
        }
        const r = await g.result;
        current = null;
        process.stdout.write("\n");
        if (o.stats) {
          const secs = (performance.now() - t0) / 1000;
          process.stderr.write(`[${r.promptTokens} prompt tokens (${r.cachedPromptTokens} reused from earlier turns), ` +
            `${r.completionTokens} generated, ${(r.completionTokens / secs).toFixed(1)} tok/s${r.finishReason === "abort" ? ", stopped" : ""}]\n`);
        }
        prompt();
      }
      rl.close();
      if (o.stats) process.stderr.write(`prompt tokens saved by reusing the KV cache: ${session.savedPromptTokens}\n`);
      model.dispose();
    });
}
