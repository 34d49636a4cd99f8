// openelm eval: score a model on multiple-choice tasks exactly as lm-evaluation-harness (dc90fec) does,
// with a progress bar, lm-eval's results table on stdout and, with --output, the results JSON.

import { writeFileSync } from "node:fs";
import cliProgress from "cli-progress";
import type { Command } from "commander";
import { evaluate, missingData } from "../eval/evaluate.js";
import { referenceSchemaJson, resultsJson, resultsTable } from "../eval/report.js";
import { intArg, intListArg, UsageError } from "./args.js";
import { addModelOptions, openModel, type ModelArgs } from "./model_args.js";

interface EvalArgs extends ModelArgs {
  tasks: string;
  numFewshot?: number;
  limit?: number;
  maxLength?: number;
  dataDir?: string;
  fewshotStart: number;
  output?: string;
  docs?: number[];
  referenceOutput?: string;
  logSamples?: boolean;
  progress: boolean;
  contextSharing: boolean;
}

export function register(program: Command): void {
  const cmd = program.command("eval")
    .description("evaluate on lm-eval tasks (arc_easy, arc_challenge, boolq, hellaswag, piqa, winogrande, truthfulqa_mc2, sciq, mmlu, mmlu_<subject>)")
    .requiredOption("--tasks <list>", "comma-separated task or group names")
    .option("--num-fewshot <n>", "few-shot examples per document (default 0)", intArg(0))
    .option("--limit <n>", "only the first n documents of each task", intArg(1))
    .option("--max-length <n>", "lm-eval max_length: inputs are left-truncated to it (default: the model's max_context_length)", intArg(1))
    .option("--data-dir <dir>", "directory with the original task files (arc_easy/, boolq/, hellaswag/, mmlu/, piqa/, truthfulqa/, winogrande/); default: the HF cache")
    .option("--fewshot-start <n>", "without a training split, shots are documents n, n+1, … of the evaluated file", intArg(0), 24)
    .option("--docs <indices>", "only these document indices of each task, e.g. 0,1,25 (instead of --limit)", intListArg("document indices"))
    .option("--output <file>", "write the results JSON here")
    .option("--reference-output <file>", "also write the results in the lm-eval reference fixture's schema (openelm-eval-reference/1)")
    .option("--log-samples", "include every document's requests and log-likelihoods in the JSON")
    .option("--no-context-sharing", "run every request from position 0 (to measure what sharing saves)")
    .option("--no-progress", "no progress bar");
  addModelOptions(cmd).action(async (o: EvalArgs) => {
    const tasks = o.tasks.split(",").map((s) => s.trim()).filter((s) => s !== "");
    if (tasks.length === 0) throw new UsageError("--tasks: no task names given");
    if (o.logSamples && !o.output) throw new UsageError("--log-samples needs --output FILE");
    const missing = missingData(tasks, { dataDir: o.dataDir }); // before the model loads
    if (missing) throw missing;
    const { model, backend, tokenizer, dir } = await openModel(o);
    const maxLength = o.maxLength ?? model.config.max_context_length;
    const bar = o.progress && process.stderr.isTTY !== undefined
      ? new cliProgress.SingleBar({ format: "eval |{bar}| {value}/{total} requests | {tps} tok/s | ETA {eta_formatted}", stream: process.stderr, hideCursor: true },
        cliProgress.Presets.shades_classic)
      : undefined;
    const t0 = performance.now();
    let started = false;
    const results = await evaluate(model, tokenizer, tasks, {
      numFewshot: o.numFewshot, limit: o.limit, docIndices: o.docs, maxLength, dataDir: o.dataDir, fewshotStart: o.fewshotStart, reusePrefix: o.contextSharing,
      onProgress: ({ done, total, stats }) => {
        if (!bar) return;
        const tps = Math.round(stats.forwardTokens / ((performance.now() - t0) / 1000));
        if (!started) { bar.start(total, 0, { tps }); started = true; }
        bar.update(done, { tps });
      },
    });
    bar?.stop();
    backend.dispose?.();
    const s = results.stats;
    process.stdout.write(`openelm (${dir}), max_length: ${maxLength}, limit: ${o.limit ?? "none"}, num_fewshot: ${o.numFewshot ?? 0}, add_bos_token: true\n`);
    process.stdout.write(resultsTable(results));
    process.stdout.write(`${s.requests} requests in ${results.seconds.toFixed(1)} s (${(s.requests / results.seconds).toFixed(1)} requests/s, ` +
      `${Math.round(s.forwardTokens / results.seconds)} tokens/s); forward tokens ${s.forwardTokens}, ` +
      `saved by context sharing ${s.inputTokens - s.forwardTokens} of ${s.inputTokens}\n`);
    const meta = { model: dir, maxLength, limit: o.limit, numFewshot: o.numFewshot, backend: backend.name };
    if (o.referenceOutput) writeFileSync(o.referenceOutput, JSON.stringify(referenceSchemaJson(results, meta), null, 1) + "\n");
    if (o.output) {
      const json = resultsJson(results, { model: dir, maxLength, limit: o.limit, numFewshot: o.numFewshot, backend: backend.name }, !!o.logSamples);
      writeFileSync(o.output, JSON.stringify(json, null, 2) + "\n");
    }
  });
}
