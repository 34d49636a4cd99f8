// openelm train: run a training recipe on prepared data; checkpoints, metrics.jsonl and loss_curve.svg in --out.

import * as fs from "node:fs";
import * as path from "node:path";
import { InputError } from "../errors.js";
import type { Command } from "commander";
import { loadRecipe, recipeNames } from "../train/recipe.js";
import { createWasmBackend, TRAINING_SPIN } from "../kernels/wasm/index.js";
import { enableRelaxedSimd } from "../kernels/wasm/relaxed_simd.js";
import { choiceArg, intArg } from "./args.js";
import { note, whileStopping } from "./shutdown.js";
import { train } from "../train/trainer.js";

export function register(program: Command): void {
  program.command("train")
    .description("train an OpenELM from a recipe (JSON) on data from `openelm data prepare`")
    .requiredOption("--config <recipe>", `recipe JSON file or shipped recipe name (${recipeNames().join(", ")})`)
    .requiredOption("--data <dir>", "prepared data directory (index.json + shards)")
    .requiredOption("--out <dir>", "output directory: checkpoint/ (HF layout + trainer state), metrics.jsonl, loss_curve.svg")
    .option("--resume", "continue the checkpoint in --out (same losses as an uninterrupted run)")
    .option("--threads <n>", "threads for the SIMD kernels", intArg(1), 1)
    .option("--kernels <kind>", "wasm (SIMD, default) or js (the reference backend and plain-TypeScript training kernels, float64 sums)", choiceArg(["wasm", "js"] as const), "wasm")
    .option("--stop-after <steps>", "save and stop after this many steps of this invocation", intArg(1))
    .option("--init-from <dir>", "start from this checkpoint's weights (overrides the recipe's init_from)")
    .action(async (o: { config: string; data: string; out: string; resume?: boolean; threads: number; kernels: "wasm" | "js"; stopAfter?: number; initFrom?: string }) => {
      const recipe = loadRecipe(o.config);
      if (o.initFrom !== undefined) {
        if (!fs.existsSync(o.initFrom)) throw new InputError(`--init-from ${o.initFrom}: no such checkpoint directory`);
        recipe.recipe.init_from = path.resolve(o.initFrom);
      }
      const control = { stop: false };
      const tty = process.stderr.isTTY;
      let pending = false;
      if (o.kernels === "wasm") enableRelaxedSimd(); // relaxed SIMD (fused multiply-add), before any module compiles
      const be = o.kernels === "wasm" ? await createWasmBackend({ threads: o.threads, spin: TRAINING_SPIN }) : undefined;
      // A signal asks for a checkpoint after this step; the log lines are best effort (stderr may be a closed pipe).
      const stop = (signal: NodeJS.Signals) => {
        control.stop = true;
        note(`\n${signal === "SIGINT" ? "Ctrl-C" : signal}: saving a checkpoint after this step (Ctrl-C again to quit without saving)\n`);
      };
      try {
        await whileStopping(stop, () => train({
          recipe, dataDir: o.data, outDir: o.out, resume: !!o.resume, stopAfter: o.stopAfter, control, backend: be,
          onStatus: (line, kind) => {
            if (tty && kind === "step") { note(`\r${line}\x1b[K`); pending = true; return; }
            if (pending) { note("\n"); pending = false; }
            note(line + "\n");
          },
        }));
      } finally {
        if (pending) note("\n");
        be?.dispose?.();
      }
    });
}
