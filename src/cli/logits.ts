// openelm logits: the float32 logits of a token sequence as JSON, for checking a checkpoint from outside.

import type { Command } from "commander";
import { InvalidArgumentError } from "commander";
import { InputError } from "../errors.js";
import { idsArg, intArg } from "./args.js";
import { addModelOptions, openModel, type ModelArgs } from "./model_args.js";

function positionsArg(v: string): "all" | "last" | number[] {
  if (v === "all" || v === "last") return v;
  try { return idsArg(v); } catch { throw new InvalidArgumentError(`expected all, last or comma-separated positions, got "${v}"`); }
}

export function register(program: Command): void {
  const cmd = program.command("logits")
    .description("print {positions, logits} as JSON for the given token ids (one forward pass)")
    .requiredOption("--tokens <ids>", "token ids, e.g. 1,450,4996", idsArg)
    .option("--positions <which>", "all | last | comma-separated positions", positionsArg, "all" as const);
  addModelOptions(cmd)
    .option("--context-length <n>", "allow sequences past max_context_length (opt-in)", intArg(1))
    .action(async (o: ModelArgs & { tokens: number[]; positions: "all" | "last" | number[]; contextLength?: number }) => {
      const { model } = await openModel(o);
      const T = o.tokens.length, V = model.config.vocab_size;
      const positions = o.positions === "all" ? [...Array(T).keys()] : o.positions === "last" ? [T - 1] : o.positions;
      for (const p of positions) if (p >= T) throw new InputError(`--positions: position ${p} is out of range for ${T} tokens`);
      const cache = model.newCache(Math.max(model.config.max_context_length, o.contextLength ?? 0));
      const logits = await model.forwardAsync(o.tokens, cache, { allLogits: true });
      const rows = positions.map((p) => Array.from(logits.subarray(p * V, (p + 1) * V)));
      process.stdout.write(JSON.stringify({ positions, logits: rows }) + "\n");
      model.backend.dispose?.();
    });
}
