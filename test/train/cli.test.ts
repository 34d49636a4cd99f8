// `openelm data prepare` and `openelm train` through the built CLI (dist/): the one-line errors of bad
// input, and Ctrl-C saving a checkpoint before exiting.

import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../..");
import { CLI, runProcess } from "../cli/run.js";
let tmp = "";

function run(args: string[]) {
  return runProcess([CLI, ...args], { cwd: tmp, timeout: 60_000 });
}

const RECIPE = {
  model: {
    model_type: "openelm", vocab_size: 32000, num_transformer_layers: 1, model_dim: 16, head_dim: 8,
    num_query_heads: [2], num_kv_heads: [1], ffn_multipliers: [1.0], ffn_dim_divisor: 8, max_context_length: 32,
  },
  context_length: 16, batch_size: 2, max_iterations: 1000, warmup_iterations: 2, eval_every: 0, save_every: 0,
};

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "openelm-train-cli-"));
  const text = Array.from({ length: 6 }, (_, d) => `Chapter ${d}. It was a dark and stormy night; the rain fell in torrents.`.repeat(8)).join("\n\n");
  fs.writeFileSync(path.join(tmp, "a.txt"), text);
  fs.writeFileSync(path.join(tmp, "empty.txt"), "");
  fs.writeFileSync(path.join(tmp, "recipe.json"), JSON.stringify(RECIPE));
  fs.writeFileSync(path.join(tmp, "typo.json"), JSON.stringify({ ...RECIPE, warmup: 3 }));
  fs.writeFileSync(path.join(tmp, "other.json"), JSON.stringify({ ...RECIPE, model: { ...RECIPE.model, model_dim: 24 } }));
  fs.writeFileSync(path.join(tmp, "frozen-lr.json"), JSON.stringify({ ...RECIPE, max_lr: 0, min_lr: 0, warmup_init_lr: 0 }));
  const r = await run(["data", "prepare", "--input", "*.txt", "--out", "data", "--val-fraction", "0.2"]);
  expect(r.stderr).toBe("");
  expect(r.stdout).toMatch(/^data: \d+ train tokens \(5 documents, 1 shards\), \d+ validation tokens \(1 documents\)\n$/);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test("data prepare: empty corpus", async () => {
  const r = await run(["data", "prepare", "--input", "empty.txt", "--out", "e"]);
  expect(r.code).toBe(1);
  expect(r.stderr).toBe("openelm: DataError: --input empty.txt: no text found (1 file, 0 documents)\n");
});

test("train: unknown recipe field", async () => {
  const r = await run(["train", "--config", "typo.json", "--data", "data", "--out", "x"]);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/^openelm: ConfigError: typo\.json: unknown field "warmup" \(recipe fields: model, context_length, .*\)\n$/);
});

test("train, then --resume with another config; then a corrupt shard", async () => {
  const ok = await run(["train", "--config", "recipe.json", "--data", "data", "--out", "run", "--stop-after", "2"]);
  expect(ok.code).toBe(0);
  expect(ok.stderr).toMatch(/step 2\/1000 \| loss \d+\.\d{4} \| lr 2\.65e-3 \| grad \d+\.\d{3} \| \d+ tok\/s \| ETA /);
  expect(fs.existsSync(path.join(tmp, "run/checkpoint/model.safetensors"))).toBe(true);
  const other = await run(["train", "--config", "other.json", "--data", "data", "--out", "run", "--resume"]);
  expect(other.code).toBe(1);
  expect(other.stderr).toBe("openelm: ConfigError: --resume run/checkpoint: the checkpoint is of another model config than other.json (model_dim 16 vs 24)\n");
  fs.cpSync(path.join(tmp, "data"), path.join(tmp, "bad"), { recursive: true });
  fs.appendFileSync(path.join(tmp, "bad/train-00000.bin"), Buffer.from([1, 0]));
  const bad = await run(["train", "--config", "recipe.json", "--data", "bad", "--out", "run", "--resume"]);
  expect(bad.code).toBe(1);
  expect(bad.stderr).toMatch(/^openelm: DataError: bad\/train-00000\.bin: corrupt shard: \d+ bytes, index\.json says \d+ tokens \(\d+ bytes\)\n$/);
  const state = JSON.parse(fs.readFileSync(path.join(tmp, "run/checkpoint/trainer_state.json"), "utf-8"));
  expect(state.step).toBe(2);
});

test("the default (SIMD) kernels resume bit-identically: 4 steps = 2 + --resume 2, at 1 and 2 threads", async () => {
  const losses = (dir: string) => fs.readFileSync(path.join(tmp, dir, "metrics.jsonl"), "utf-8").trim().split("\n")
    .map((l) => JSON.parse(l)).filter((r) => r.loss !== undefined).map((r) => r.loss);
  expect((await run(["train", "--config", "recipe.json", "--data", "data", "--out", "s4", "--stop-after", "4"])).code).toBe(0);
  expect((await run(["train", "--config", "recipe.json", "--data", "data", "--out", "h2", "--stop-after", "2", "--threads", "2"])).code).toBe(0);
  expect((await run(["train", "--config", "recipe.json", "--data", "data", "--out", "h2", "--stop-after", "2", "--resume"])).code).toBe(0);
  expect(losses("h2")).toEqual(losses("s4"));
  expect(losses("s4")).toHaveLength(4);
  expect(fs.readFileSync(path.join(tmp, "h2/checkpoint/model.safetensors")).equals(fs.readFileSync(path.join(tmp, "s4/checkpoint/model.safetensors")))).toBe(true);
});

test("Ctrl-C saves a checkpoint and exits", async () => {
  const child = spawn(process.execPath, [CLI, "train", "--config", "recipe.json", "--data", "data", "--out", "sigint"], { cwd: tmp });
  let err = "";
  await new Promise<void>((resolve) => child.stderr.on("data", (d) => {
    err += d;
    if (/step 3\//.test(err) && !child.killed) { child.kill("SIGINT"); resolve(); }
  }));
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  expect(code).toBe(0);
  expect(err).toMatch(/Ctrl-C: saving a checkpoint after this step/);
  const state = JSON.parse(fs.readFileSync(path.join(tmp, "sigint/checkpoint/trainer_state.json"), "utf-8"));
  expect(state.step).toBeGreaterThanOrEqual(3);
  expect(err).toMatch(new RegExp(`stopped at step ${state.step}; checkpoint sigint/checkpoint`));
}, 60_000);

test("--init-from starts from a checkpoint's weights (learning rate 0: they come out unchanged)", async () => {
  expect((await run(["train", "--config", "recipe.json", "--data", "data", "--out", "i1", "--stop-after", "1"])).code).toBe(0);
  const r = await run(["train", "--config", "frozen-lr.json", "--data", "data", "--out", "i2", "--stop-after", "1", "--init-from", "i1/checkpoint"]);
  expect(r.code).toBe(0);
  const weights = (dir: string) => fs.readFileSync(path.join(tmp, dir, "checkpoint/model.safetensors"));
  expect(weights("i2").equals(weights("i1"))).toBe(true);
  const missing = await run(["train", "--config", "recipe.json", "--data", "data", "--out", "i3", "--init-from", "nope"]);
  expect(missing.code).toBe(1);
  expect(missing.stderr).toBe("openelm: InputError: --init-from nope: no such checkpoint directory\n");
});
