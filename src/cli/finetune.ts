// openelm finetune: supervised fine-tuning of a model on chat / instruction data, full or as a LoRA / DoRA
// adapter (train/finetune.ts); checkpoints or a PEFT adapter directory, metrics.jsonl and loss_curve.svg in --out.

import * as fs from "node:fs";
import type { Command } from "commander";
import { InputError } from "../errors.js";
import { LORA_TARGETS, type LoraTarget } from "../io/peft_adapter.js";
import { createWasmBackend, TRAINING_SPIN } from "../kernels/wasm/index.js";
import { enableRelaxedSimd } from "../kernels/wasm/relaxed_simd.js";
import { modelPath } from "./model_args.js";
import { checkpointTokenizer } from "../tokenizer/sentencepiece.js";
import { FINETUNE_DEFAULTS, finetune, type FinetuneSettings } from "../train/finetune.js";
import { choiceArg, intArg } from "./args.js";
import { note, whileStopping } from "./shutdown.js";

const num = (what: string) => (v: string) => {
  const x = Number(v);
  if (!Number.isFinite(x) || x < 0) throw new InputError(`${what}: expected a number ≥ 0, got "${v}"`);
  return x;
};

export function register(program: Command): void {
  const d = FINETUNE_DEFAULTS;
  program.command("finetune")
    .description("fine-tune a model: SFT (loss on assistant tokens only) or DPO, full or a LoRA / DoRA adapter (PEFT)")
    .option("-m, --model <dir>", "base model directory, or a hub id (default: the embedded model)")
    .requiredOption("--data <files...>", "training examples, one or more files (.jsonl, .jsonl.gz, .json): chat messages, Dolly, GSM8K, self-instruct, LLM-Adapters, ### Human/Assistant")
    .requiredOption("--out <dir>", "output: adapter/ (PEFT directory) or checkpoint/ (full), metrics.jsonl, loss_curve.svg")
    .option("--method <m>", "full, lora, dora (SFT) or dpo (preference pairs: hh-rlhf, UltraFeedback-binarized, prompt/chosen/rejected)",
      choiceArg(["full", "lora", "dora", "dpo"] as const), d.method)
    .option("--dpo-params <p>", "what DPO trains: full, or a lora / dora adapter (reference: the base without it)", choiceArg(["full", "lora", "dora"] as const), d.dpo_params)
    .option("--beta <x>", "DPO's β", num("--beta"), d.beta)
    .option("--val-data <file>", "validation examples (default: --val-fraction of --data, held out)")
    .option("--val-fraction <f>", "share of --data held out for validation", num("--val-fraction"), d.val_fraction)
    .option("--packing", "concatenate examples into full sequences (default: pad each example)")
    .option("--context-length <n>", "tokens a sequence", intArg(1), d.context_length)
    .option("--batch-size <n>", "sequences a micro-batch", intArg(1), d.batch_size)
    .option("--grad-accumulation <n>", "micro-batches a step", intArg(1), d.grad_accumulation)
    .option("--max-iterations <n>", "optimizer steps", intArg(1), d.max_iterations)
    .option("--lr <x>", "peak learning rate (cosine to --min-lr after --warmup steps)", num("--lr"), d.max_lr)
    .option("--min-lr <x>", "final learning rate", num("--min-lr"), d.min_lr)
    .option("--warmup <n>", "warmup steps", intArg(0), d.warmup_iterations)
    .option("--weight-decay <x>", "AdamW weight decay (not on 1-D tensors)", num("--weight-decay"), d.weight_decay)
    .option("--grad-clip <x>", "global gradient-norm clip (0: none)", num("--grad-clip"), d.grad_clip)
    .option("--r <n>", "LoRA rank", intArg(1), d.r)
    .option("--alpha <x>", "LoRA alpha (scaling alpha / r)", num("--alpha"), d.alpha)
    .option("--dropout <p>", "LoRA dropout", num("--dropout"), d.dropout)
    .option("--targets <list>", `adapted modules, comma-separated (${LORA_TARGETS.join(", ")})`, LORA_TARGETS.join(","))
    .option("--template <file>", "a Jinja chat template file (default: the built-in chat format)")
    .option("--eval-every <n>", "validate every N steps (0: never)", intArg(0), d.eval_every)
    .option("--eval-batches <n>", "validation batches", intArg(1), d.eval_batches)
    .option("--save-every <n>", "save every N steps (and at the end, and on Ctrl-C)", intArg(0), d.save_every)
    .option("--seed <n>", "seed of the shuffle, the adapter's init and dropout", intArg(0), d.seed)
    .option("--threads <n>", "threads for the SIMD kernels", intArg(1), 1)
    .option("--kernels <kind>", "wasm (SIMD, default) or js (reference, float64 sums)", choiceArg(["wasm", "js"] as const), "wasm")
    .option("--resume", "continue the run saved in --out (same losses as an uninterrupted run)")
    .option("--stop-after <steps>", "save and stop after this many steps of this invocation", intArg(1))
    .action(async (o: Record<string, unknown> & { model?: string; data: string[]; out: string; method: FinetuneSettings["method"]; valData?: string;
      dpoParams: FinetuneSettings["dpo_params"]; targets: string; template?: string; threads: number; kernels: "wasm" | "js"; resume?: boolean; stopAfter?: number }) => {
      const modelDir = await modelPath({ model: o.model });
      for (const [flag, f] of [...o.data.map((d) => ["--data", d] as const), ["--val-data", o.valData], ["--template", o.template]] as const)
        if (f !== undefined && !fs.existsSync(f)) throw new InputError(`${flag} ${f}: no such file`);
      const targets = o.targets.split(",").map((t) => t.trim()).filter(Boolean);
      for (const t of targets) if (!(LORA_TARGETS as readonly string[]).includes(t)) throw new InputError(`--targets: unknown module "${t}" (expected ${LORA_TARGETS.join(", ")})`);
      if ((o.dropout as number) >= 1) throw new InputError(`--dropout: expected a probability below 1, got ${o.dropout}`);
      const settings: FinetuneSettings = {
        ...FINETUNE_DEFAULTS, method: o.method, dpo_params: o.dpoParams, beta: o.beta as number, packing: !!o.packing, context_length: o.contextLength as number,
        batch_size: o.batchSize as number, grad_accumulation: o.gradAccumulation as number, max_iterations: o.maxIterations as number,
        max_lr: o.lr as number, min_lr: o.minLr as number, warmup_iterations: o.warmup as number, weight_decay: o.weightDecay as number,
        grad_clip: o.gradClip as number, val_fraction: o.valFraction as number, eval_every: o.evalEvery as number,
        eval_batches: o.evalBatches as number, save_every: o.saveEvery as number, seed: o.seed as number,
        r: o.r as number, alpha: o.alpha as number, dropout: o.dropout as number, targets: targets as LoraTarget[],
        template: o.template !== undefined ? fs.readFileSync(o.template, "utf-8") : undefined,
      };
      const control = { stop: false };
      const tty = process.stderr.isTTY;
      let pending = false;
      if (o.kernels === "wasm") enableRelaxedSimd(); // before any module compiles
      const be = o.kernels === "wasm" ? await createWasmBackend({ threads: o.threads, spin: TRAINING_SPIN }) : undefined;
      // A signal asks for a save after this step; the log lines are best effort (stderr may be a closed pipe).
      const stop = (signal: NodeJS.Signals) => {
        control.stop = true;
        note(`\n${signal === "SIGINT" ? "Ctrl-C" : signal}: saving after this step (Ctrl-C again to quit without saving)\n`);
      };
      try {
        const tokenizer = await checkpointTokenizer(modelDir);
        await whileStopping(stop, () => finetune({
          modelDir, dataFile: o.data, valFile: o.valData, outDir: o.out, tokenizer, settings,
          backend: be, resume: !!o.resume, stopAfter: o.stopAfter, control,
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
