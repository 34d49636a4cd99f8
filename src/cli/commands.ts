// The subcommands by name, each module loaded only when its command runs: importing every module (the
// server, training, evaluation…) for one command would cost startup time and ~8 MiB of resident memory.

import type { Command } from "commander";

export type CommandModule = { register(program: Command): void };

/** Command name -> its module (`register(program)` adds that command; tokenize.js adds detokenize too). */
export const COMMANDS: Record<string, () => Promise<CommandModule>> = {
  generate: () => import("./generate.js"),
  chat: () => import("./chat.js"),
  serve: () => import("./serve.js"),
  web: () => import("./web.js"),
  "bench-serve": () => import("./bench_serve.js"),
  download: () => import("./download.js"),
  logits: () => import("./logits.js"),
  tokenize: () => import("./tokenize.js"),
  detokenize: () => import("./tokenize.js"),
  init: () => import("./init.js"),
  info: () => import("./info.js"),
  eval: () => import("./eval.js"),
  perplexity: () => import("./perplexity.js"),
  train: () => import("./train.js"),
  finetune: () => import("./finetune.js"),
  data: () => import("./data.js"),
  bench: () => import("./bench.js"),
  quantize: () => import("./quantize.js"),
  bigram: () => import("./bigram.js"),
  merge: () => import("./merge.js"),
  score: () => import("./score.js"),
  "export-lora": () => import("./export_lora.js"),
};

/**
 * Register the command argv names (argv as process.argv: the command at index 2), or every command when
 * it names none of them (help, --version, a typo: commander then lists them all). Order: as COMMANDS.
 */
export async function registerCommands(program: Command, argv: string[]): Promise<void> {
  const named = COMMANDS[argv[2] ?? ""];
  const done = new Set<CommandModule>(); // a module namespace is one object, however often imported
  for (const load of named ? [named] : Object.values(COMMANDS)) {
    const mod = await load();
    if (!done.has(mod)) { done.add(mod); mod.register(program); }
  }
}
