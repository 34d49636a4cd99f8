// Turns a finished `openelm train` run into the embedded default model: the float32 checkpoint rounded to
// BF16 (round to nearest even, as the -Instruct checkpoints are stored), config.json with torch_dtype
// bfloat16, and the run's recipe, metrics.jsonl and loss curve beside it.
// Usage: node scripts/make_default_model.mjs RUN_DIR [OUT_DIR=assets/models/default]   (after npm run build)
import * as fs from "node:fs";
import * as path from "node:path";
import { readSafetensors, writeSafetensors } from "../dist/io/safetensors.js";
import { f32ToBf16 } from "../dist/tensor/tensor.js";

const [run, out = "assets/models/default"] = process.argv.slice(2);
if (!run) { console.error("usage: node scripts/make_default_model.mjs RUN_DIR [OUT_DIR]"); process.exit(2); }
const ck = path.join(run, "checkpoint");
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
fs.writeFileSync(path.join(out, "config.json"), JSON.stringify(Object.fromEntries(Object.keys(config).sort().map((k) => [k, config[k]])), null, 2) + "\n");
fs.copyFileSync(path.join(ck, "generation_config.json"), path.join(out, "generation_config.json"));
for (const f of ["recipe.json", "metrics.jsonl", "loss_curve.svg"]) fs.copyFileSync(path.join(run, f), path.join(out, f));
console.log(`wrote ${out}: ${bf16.length} tensors, ${(fs.statSync(path.join(out, "model.safetensors")).size / 1e6).toFixed(1)} MB`);
