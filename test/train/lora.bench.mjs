#!/usr/bin/env node
// Fine-tuning cost on the 35M-parameter training benchmark shape: step time (forward + backward + clip + AdamW)
// and peak RSS of full fine-tuning vs LoRA vs DoRA (r 8, alpha 16, the four projections) on the same batch.
// One method a process, so each peak RSS is its own. Run after `npm run build`:
//   for m in full lora dora; do node test/train/lora.bench.mjs --method $m [--B 2 --T 256 --steps 3 --threads 2]; done

import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import * as os from "node:os";
import { enableRelaxedSimd } from "../../dist/kernels/wasm/relaxed_simd.js";

enableRelaxedSimd();
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const dist = (p) => path.join(ROOT, "dist", p);
const { TrainableOpenELM } = await import(dist("train/openelm_train.js"));
const { AdamW } = await import(dist("train/adamw.js"));
const { clipGradNorm } = await import(dist("train/grad_clip.js"));
const { initParams } = await import(dist("train/parameters.js"));
const { Rng } = await import(dist("tensor/rng.js"));
const { createWasmBackend, TRAINING_SPIN } = await import(dist("kernels/wasm/index.js"));
const { parseConfig } = await import(dist("models/config.js"));
const { newPeftAdapter } = await import(dist("models/adapter.js"));

const arg = (name, dflt) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : dflt; };
const METHOD = arg("--method", "lora"), B = Number(arg("--B", 2)), T = Number(arg("--T", 256));
const STEPS = Number(arg("--steps", 3)), WARMUP = Number(arg("--warmup", 1)), THREADS = Number(arg("--threads", 2));
const config = parseConfig({ model_type: "openelm", ...JSON.parse(fs.readFileSync(path.join(ROOT, "test/fixtures/openelm-train/train-bench-35m.json"), "utf-8")) }, "train-bench-35m.json");

const be = await createWasmBackend({ threads: THREADS, spin: TRAINING_SPIN });
const full = METHOD === "full";
const m = new TrainableOpenELM(config, be, full ? undefined : () => true);
initParams(m.layout, m.params, config, new Rng(35));
let params = m.params, grads = m.grads, layout = m.layout;
if (!full) {
  const rows = (i, t) => { const W = m.weights.layers[i][t]; return (r0, n, out) => out.set(W.data.subarray(r0 * W.cols, (r0 + n) * W.cols)); };
  const a = m.attachAdapter(newPeftAdapter(config, { r: 8, alpha: 16, useDora: METHOD === "dora" }, new Rng(1), rows));
  ({ params, grads, layout } = a);
}
const opt = new AdamW(layout);
const rng = new Rng(0), N = B * T;
const ids = new Int32Array(N).map(() => 3 + rng.int(config.vocab_size - 3));
const targets = new Int32Array(N).fill(-100);
for (let b = 0; b < B; b++) for (let t = 0; t + 1 < T; t++) targets[b * T + t] = ids[b * T + t + 1];
const times = [];
for (let step = 0; step < WARMUP + STEPS; step++) {
  const t0 = performance.now();
  m.zeroGrad();
  m.forward(ids, targets, B, T, 0);
  m.backward();
  clipGradNorm(grads, 1.0);
  opt.update(params, grads, 1e-4);
  if (step >= WARMUP) times.push((performance.now() - t0) / 1000);
}
times.sort((a, b) => a - b);
console.log(JSON.stringify({ method: METHOD, B, T, threads: THREADS, trainable: layout.total, steps: STEPS,
  step_s_median: +times[Math.floor(times.length / 2)].toFixed(3), peak_rss_mib: Math.round(process.resourceUsage().maxRSS / 1024),
  wasm_memory_mib: Math.round(be.memoryBytes() / 2 ** 20), optimizer_moments_mib: +((opt.m.length + opt.v.length) * 4 / 2 ** 20).toFixed(2),
  load_average: os.loadavg().map((x) => +x.toFixed(1)) }));
be.dispose();
process.exit(0);
