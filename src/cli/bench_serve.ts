// openelm bench-serve: load an OpenAI-compatible server (openelm serve, llama.cpp's llama-server, vLLM …)
// with N concurrent streaming clients and report output tokens/s, TTFT and inter-token latency
// percentiles, and errors (src/serve/load_generator.ts). Several --concurrency values run one after another.

import { InvalidArgumentError, type Command } from "commander";
import * as fs from "node:fs";
import { InputError } from "../errors.js";
import { runLoad, type LoadReport } from "../serve/load_generator.js";
import { intArg, intListArg, floatArg } from "./args.js";

interface Opts {
  url: string; model?: string; concurrency: number[]; promptTokens: number; promptFile?: string; maxTokens: number;
  requests?: number; seconds?: number; seed: number; json: boolean; timeout: number; sharedPrefix: number; healthProbe?: number;
  extraBody?: Record<string, unknown>;
}

/** --extra-body: a JSON object. */
function jsonObjectArg(v: string): Record<string, unknown> {
  let j: unknown;
  try { j = JSON.parse(v); } catch (e) { throw new InvalidArgumentError(`expected a JSON object (${(e as Error).message})`); }
  if (typeof j !== "object" || j === null || Array.isArray(j)) throw new InvalidArgumentError(`expected a JSON object, got ${v}`);
  return j as Record<string, unknown>;
}

export function register(program: Command): void {
  program.command("bench-serve")
    .description("load an OpenAI-compatible server: output tokens/s, TTFT and inter-token latency p50/p90/p99, errors")
    .option("--url <url>", "server base URL", "http://127.0.0.1:8080")
    .option("--model <id>", "model id to send (default: the first of GET /v1/models)")
    .option("-c, --concurrency <list>", "concurrent clients; a list runs each in turn (1,4,8,16)", intListArg("client counts"), [1])
    .option("--prompt-tokens <n>", "prompt length in token ids (seeded random ids after BOS)", intArg(1), 128)
    .option("--prompt-file <file>", "text prompts, one a line, instead of random ids")
    .option("--max-tokens <n>", "tokens generated a request (ignore_eos)", intArg(1), 128)
    .option("--requests <n>", "requests a run (per concurrency value)", intArg(1))
    .option("--seconds <s>", "run length in seconds (per concurrency value; default 30 without --requests)", floatArg(0.001))
    .option("--seed <n>", "prompt seed of the first run; each further --concurrency value adds 1 (no run repeats an earlier run's prompts, which a server's prompt cache would find)", intArg(0), 0)
    .option("--timeout <s>", "give up on a request after this many seconds", floatArg(0.001), 600)
    .option("--shared-prefix <n>", "the first n ids after BOS are the same in every prompt (and every run): a prefix cache's case", intArg(0), 0)
    .option("--health-probe <ms>", "poll GET /health every ms during the run; report its latency p50 / p99", intArg(1))
    .option("--extra-body <json>", 'a JSON object merged into every request body, e.g. \'{"logit_bias": {"13": -100}}\'', jsonObjectArg)
    .option("--json", "print the reports as JSON lines")
    .action(async (o: Opts) => {
      if (o.concurrency.some((c) => c < 1)) throw new InputError(`--concurrency: expected counts ≥ 1, got ${o.concurrency.join(",")}`);
      let prompts: string[] | undefined;
      if (o.promptFile) {
        prompts = fs.readFileSync(o.promptFile, "utf8").split("\n").filter((l) => l.trim() !== "");
        if (prompts.length === 0) throw new InputError(`--prompt-file ${o.promptFile}: no prompts (one a line expected)`);
      }
      const seconds = o.seconds ?? (o.requests === undefined ? 30 : undefined);
      if (!o.json) process.stdout.write("| concurrency | requests | errors | output tok/s | req/s | TTFT p50 / p90 / p99 ms | ITL p50 / p90 / p99 / max ms | latency p50 ms |\n|---:|---:|---:|---:|---:|---|---|---:|\n");
      for (const [i, c] of o.concurrency.entries()) {
        const r = await runLoad({ url: o.url, model: o.model, concurrency: c, promptTokens: o.promptTokens, prompts, maxTokens: o.maxTokens,
          requests: o.requests, seconds, seed: o.seed + i, timeoutMs: o.timeout * 1000, sharedPrefix: o.sharedPrefix, healthProbeMs: o.healthProbe,
          extraBody: o.extraBody });
        process.stdout.write(o.json ? JSON.stringify(r) + "\n" : row(r));
        if (!o.json && o.sharedPrefix) process.stdout.write(`first request TTFT ${f(r.firstTtftMs, 0)} ms; cached prompt tokens p50 ${f(r.cachedTokens.p50, 0)}\n`);
        if (!o.json && r.healthMs) process.stdout.write(`/health during the run: ${Number.isNaN(r.healthMs.p50) ? "no answer" : `p50 ${f(r.healthMs.p50)} / p99 ${f(r.healthMs.p99)} ms`}, ${r.healthFailures} failed\n`);
        for (const e of r.errorSamples) process.stderr.write(`bench-serve: error (concurrency ${c}): ${e}\n`);
      }
    });
}

const f = (x: number, d = 1) => (Number.isNaN(x) ? "-" : x.toFixed(d));

function row(r: LoadReport): string {
  return `| ${r.concurrency} | ${r.requests} | ${r.errors} | ${f(r.outputTokensPerS)} | ${f(r.requestsPerS, 2)} | ` +
    `${f(r.ttftMs.p50, 0)} / ${f(r.ttftMs.p90, 0)} / ${f(r.ttftMs.p99, 0)} | ${f(r.itlMs.p50)} / ${f(r.itlMs.p90)} / ${f(r.itlMs.p99)} / ${f(r.itlMs.max)} | ${f(r.latencyMs.p50, 0)} |\n`;
}
