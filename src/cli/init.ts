// openelm init: a random-weight checkpoint in the exact published layout (no download needed).

import type { Command } from "commander";
import { initCheckpoint } from "../models/init.js";
import { parameterCount } from "../models/config.js";
import { publishedConfigNames, resolveConfig } from "../models/registry.js";
import { choiceArg, intArg } from "./args.js";

export function register(program: Command): void {
  program.command("init")
    .description("write a random-weight OpenELM checkpoint (config.json + model.safetensors)")
    .requiredOption("--config <name|file>", `published config (${publishedConfigNames().join(", ")}) or a config.json`)
    .requiredOption("--out <dir>", "output directory")
    .option("--dtype <dtype>", "f32 (as base models) or bf16 (as -Instruct models)", choiceArg(["f32", "bf16"] as const), "f32")
    .option("--seed <n>", "random seed", intArg(0), 0)
    .action((o: { config: string; out: string; dtype: "f32" | "bf16"; seed: number }) => {
      const c = resolveConfig(o.config);
      const { files, bytes } = initCheckpoint(c, o.out, o.dtype, o.seed);
      process.stdout.write(`wrote ${o.out}: ${parameterCount(c).toLocaleString("en-US")} parameters, ${o.dtype}, ${(bytes / 1e6).toFixed(1)} MB in ${files.join(", ")}\n`);
    });
}
