#!/usr/bin/env node
// Training throughput: tokens/s of a full step (forward + backward + clip 1.0 + AdamW, float32) for the two
// setups of ../shared/reference/python/bench_train_torch.py, with the SIMD kernels at 1 and 2 threads, and
// PyTorch CPU (that script) in the same run. Run after `npm run build`:
//   node test/train/train.bench.mjs [--steps 3] [--warmup 1] [--torch /path/bench_train_torch.py] [--only tiny-32k]
// Prints one JSON line per measurement and a markdown table for BENCHMARKS.md.

import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { enableRelaxedSimd } from "../../dist/kernels/wasm/relaxed_simd.js";

// as `openelm train`: WebAssembly relaxed SIMD (fused multiply-add), before any module compiles
enableRelaxedSimd();

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const dist = (p) => path.join(ROOT, "dist", p);
const { TrainableOpenELM } = await import(dist("train/openelm_train.js"));
const { AdamW } = await import(dist("train/adamw.js"));
const { clipGradNorm } = await import(dist("train/grad_clip.js"));
const { initParams, loadParams } = await import(dist("train/parameters.js"));
const { Rng } = await import(dist("tensor/rng.js"));
const { createWasmBackend, TRAINING_SPIN } = await import(dist("kernels/wasm/index.js"));
const { readCheckpoint } = await import(dist("io/model_dir.js"));
const { parseConfig, parameterCount } = await import(dist("models/config.js"));

const arg = (name, dflt) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : dflt; };
const STEPS = Number(arg("--steps", 3)), WARMUP = Number(arg("--warmup", 1));
const TORCH = arg("--torch", path.resolve(ROOT, "../shared/reference/python/bench_train_torch.py"));
const ONLY = arg("--only", null);
const NO_TORCH = process.argv.includes("--no-torch");
// --B / --T override a setup's batch (a quick comparison on a loaded machine)
const B_OVERRIDE = arg("--B", null), T_OVERRIDE = arg("--T", null);

const SETUPS = {
  "tiny-32k": { B: 8, T: 256, load: (m) => loadParams(m.layout, m.params, readCheckpoint(path.join(ROOT, "test/fixtures/openelm/tiny-32k")).tensors, "tiny-32k"),
    config: () => readCheckpoint(path.join(ROOT, "test/fixtures/openelm/tiny-32k")).config },
  "bench-35m": { B: 4, T: 512, load: (m, c) => initParams(m.layout, m.params, c, new Rng(35)),
    config: () => parseConfig({ model_type: "openelm", ...JSON.parse(fs.readFileSync(path.join(ROOT, "test/fixtures/openelm-train/train-bench-35m.json"), "utf-8")) }, "train-bench-35m.json") },
};

async function ours(name, threads) {
  const s = { ...SETUPS[name] }, config = s.config();
  if (B_OVERRIDE) s.B = Number(B_OVERRIDE);
  if (T_OVERRIDE) s.T = Number(T_OVERRIDE);
  const be = await createWasmBackend({ threads, spin: TRAINING_SPIN });
  const m = new TrainableOpenELM(config, be);
  s.load(m, config);
  const opt = new AdamW(m.layout);
  const rng = new Rng(0), N = s.B * s.T;
  const ids = new Int32Array(N).map(() => 3 + rng.int(config.vocab_size - 3));
  const targets = new Int32Array(N).fill(-100);
  for (let b = 0; b < s.B; b++) for (let t = 0; t + 1 < s.T; t++) targets[b * s.T + t] = ids[b * s.T + t + 1];
  const rows = [];
  let loss = 0;
  for (let step = 0; step < WARMUP + STEPS; step++) {
    const t0 = performance.now();
    m.zeroGrad();
    loss = m.forward(ids, targets, s.B, s.T, 0).ce;
    const t1 = performance.now();
    m.backward();
    const t2 = performance.now();
    clipGradNorm(m.grads, 1.0);
    opt.update(m.params, m.grads, 1e-4);
    const t3 = performance.now();
    if (step >= WARMUP) rows.push([t3 - t0, t1 - t0, t2 - t1, t3 - t2].map((x) => x / 1000));
  }
  be.dispose();
  const med = (i) => { const a = rows.map((r) => r[i]).sort((x, y) => x - y); return a[Math.floor(a.length / 2)]; };
  return { impl: `openelm-ts ${be.training.name}`, model: name, parameters: parameterCount(config), B: s.B, T: s.T, threads,
    steps_measured: rows.length, step_s_median: +med(0).toFixed(3), tokens_per_s: +(N / med(0)).toFixed(1),
    forward_s_median: +med(1).toFixed(3), backward_s_median: +med(2).toFixed(3), optimizer_s_median: +med(3).toFixed(3),
    final_loss: +loss.toFixed(4), load_average_after: os.loadavg().map((x) => +x.toFixed(2)) };
}

function torch(name, threads) {
  const env = { ...process.env, OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads) };
  const r = spawnSync("/usr/bin/python3", [TORCH, name, "--threads", String(threads), "--steps", String(STEPS), "--warmup", String(WARMUP)], { env, encoding: "utf-8" });
  if (r.status !== 0) return { impl: "pytorch", model: name, threads, error: (r.stderr || "").trim().split("\n").pop() };
  return { impl: `pytorch ${JSON.parse(r.stdout).torch}`, ...JSON.parse(r.stdout) };
}

const results = [];
for (const name of Object.keys(SETUPS)) {
  if (ONLY && ONLY !== name) continue;
  for (const threads of arg("--threads", "1,2").split(",").map(Number)) {
    for (const run of [() => ours(name, threads), () => (NO_TORCH ? { impl: "pytorch", error: "skipped (--no-torch)" } : torch(name, threads))]) {
      const r = await run();
      console.log(JSON.stringify(r));
      results.push(r);
    }
  }
}
console.log(`\n| model | B × T | threads | openelm-ts tokens/s | PyTorch tokens/s | ratio |\n| --- | --- | --- | --- | --- | --- |`);
for (let i = 0; i < results.length; i += 2) {
  const a = results[i], b = results[i + 1];
  console.log(`| ${a.model} | ${a.B} × ${a.T} | ${a.threads} | ${a.tokens_per_s} | ${b.tokens_per_s ?? b.error} | ${b.tokens_per_s ? (a.tokens_per_s / b.tokens_per_s).toFixed(2) : "-"} |`);
}
process.exit(0);
