// Turns finished `openelm train` runs into the embedded default model: the last run's float32 checkpoint
// rounded to BF16 (round to nearest even, as the -Instruct checkpoints are stored), config.json with
// torch_dtype bfloat16, and every run's recipe and metrics beside it (one run: recipe.json, metrics.jsonl;
// several stages, each continuing the previous one with --init-from: recipe-stageN.json,
// metrics-stageN.jsonl), plus one loss curve over all stages.
// Usage: node scripts/make_default_model.mjs OUT_DIR RUN_DIR [RUN_DIR ...]   (after npm run build)
import * as fs from "node:fs";
import * as path from "node:path";
import { readSafetensors, writeSafetensors } from "../dist/io/safetensors.js";
import { f32ToBf16 } from "../dist/tensor/tensor.js";
import { renderLossCurve } from "../dist/train/loss_curve.js";

const [out, ...runs] = process.argv.slice(2);
if (!out || runs.length === 0) { console.error("usage: node scripts/make_default_model.mjs OUT_DIR RUN_DIR [RUN_DIR ...]"); process.exit(2); }
const ck = path.join(runs[runs.length - 1], "checkpoint");
fs.mkdirSync(out, { recursive: true });
const { tensors } = readSafetensors(path.join(ck, "model.safetensors"));
const bf16 = [...tensors.values()].map((t) => {
  const f = new Float32Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength));
  const b = new Uint16Array(f.length);
  for (let i = 0; i < f.length; i++) b[i] = f32ToBf16(f[i]);
  return { name: t.name, dtype: "bf16", shape: t.shape, data: new Uint8Array(b.buffer) };
});
writeSafetensors(path.join(out, "model.safetensors"), bf16);
const config = JSON.parse(fs.readFileSync(path.join(ck, "config.json"), "utf-8"));
config.torch_dtype = "bfloat16";
// the context it was trained at (the recipe's model block allows RoPE positions beyond it)
config.max_context_length = JSON.parse(fs.readFileSync(path.join(runs[runs.length - 1], "recipe.json"), "utf-8")).context_length;
fs.writeFileSync(path.join(out, "config.json"), JSON.stringify(Object.fromEntries(Object.keys(config).sort().map((k) => [k, config[k]])), null, 2) + "\n");
fs.copyFileSync(path.join(ck, "generation_config.json"), path.join(out, "generation_config.json"));

// Recipes and metrics of every stage; the loss curve continues the step count across stages.
const rows = [];
let offset = 0;
runs.forEach((run, i) => {
  const suffix = runs.length > 1 ? `-stage${i + 1}` : "";
  fs.copyFileSync(path.join(run, "recipe.json"), path.join(out, `recipe${suffix}.json`));
  fs.copyFileSync(path.join(run, "metrics.jsonl"), path.join(out, `metrics${suffix}.jsonl`));
  const stage = fs.readFileSync(path.join(run, "metrics.jsonl"), "utf-8").trim().split("\n").map((l) => JSON.parse(l));
  for (const r of stage) rows.push({ ...r, step: r.step + offset });
  offset += Math.max(...stage.map((r) => r.step));
});
fs.writeFileSync(path.join(out, "loss_curve.svg"), renderLossCurve(rows,
  `${config.num_transformer_layers} layers, model_dim ${config.model_dim}: ${runs.length > 1 ? `${runs.length} stages, ` : ""}${offset} steps`));
console.log(`wrote ${out}: ${bf16.length} tensors, ${(fs.statSync(path.join(out, "model.safetensors")).size / 1e6).toFixed(1)} MB`);
