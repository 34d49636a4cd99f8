// --adapter on the model-taking commands, and `openelm merge`: the fixture batch's loss through the CLI with each
// adapter matches the float64 PEFT reference, and merged checkpoints (directory and GGUF) give the unmerged logits.
import { describe, expect, test } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { FIXTURE, runCli } from "./run.js";

const MODEL = FIXTURE("tiny-small-vocab");
const TRAIN = new URL("../fixtures/openelm-train/tiny-small-vocab", import.meta.url).pathname;
const expected = JSON.parse(fs.readFileSync(`${TRAIN}/expected.json`, "utf8"));
const V = 509;

async function logits(model: string, ids: number[], extra: string[] = []): Promise<number[][]> {
  const r = await runCli(["logits", "-m", model, "--tokens", ids.join(","), "--positions", "all", "--backend", "wasm", "-t", "1", ...extra]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout).logits;
}

/** The batch's mean CE from the CLI's logits of each row, and the rows' logits. */
async function batchLoss(model: string, extra: string[]): Promise<{ loss: number; rows: number[][][] }> {
  let sum = 0, n = 0;
  const all: number[][][] = [];
  for (const [b, ids] of (expected.batch.input_ids as number[][]).entries()) {
    const rows = await logits(model, ids, extra);
    for (let t = 0; t + 1 < ids.length; t++) {
      const y = expected.batch.labels[b][t + 1];
      if (y === -100) continue;
      const m = Math.max(...rows[t]);
      sum += m + Math.log(rows[t].reduce((s, v) => s + Math.exp(v - m), 0)) - rows[t][y];
      n++;
    }
    all.push(rows);
  }
  return { loss: sum / n, rows: all };
}

function maxDiff(a: number[][], b: number[][]): number {
  let d = 0;
  a.forEach((r, i) => r.forEach((v, j) => { d = Math.max(d, Math.abs(v - b[i][j])); }));
  return d;
}

describe("adapters on the command line", () => {
  // CLI runs cost ~1.5 s each on a busy machine: the loss check runs for DoRA (which includes LoRA's path), GGUF once.
  test("dora: --adapter gives the reference loss; merge into a directory and a GGUF gives the same logits within 1e-4", async () => {
    const adapter = `${TRAIN}/dora-adapter`;
    const { loss, rows } = await batchLoss(MODEL, ["--adapter", adapter]);
    expect(Math.abs(loss - expected.dora.loss)).toBeLessThan(2e-5);
    const ids = expected.batch.input_ids[0] as number[];
    expect(maxDiff(rows[0], await logits(MODEL, ids))).toBeGreaterThan(0.01); // the adapter changes the output
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "merge-"));
    for (const out of [path.join(tmp, "merged"), path.join(tmp, "merged.gguf")]) {
      const r = await runCli(["merge", "-m", MODEL, "--adapter", adapter, "-o", out]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/20 adapted matrices merged/);
      expect(maxDiff(await logits(out, ids), rows[0])).toBeLessThan(1e-4);
    }
    expect(rows[0][0].length).toBe(V);
  });

  test("lora: merged directory gives the unmerged logits within 1e-4", async () => {
    const adapter = `${TRAIN}/lora-adapter`, out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "merge-")), "m");
    const ids = expected.batch.input_ids[1] as number[];
    expect((await runCli(["merge", "-m", MODEL, "--adapter", adapter, "-o", out])).code).toBe(0);
    expect(maxDiff(await logits(out, ids), await logits(MODEL, ids, ["--adapter", adapter]))).toBeLessThan(1e-4);
  });

  test("a malformed adapter is one line naming the file and field, exit 1", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bad-adapter-"));
    const cfg = JSON.parse(fs.readFileSync(`${TRAIN}/lora-adapter/adapter_config.json`, "utf8"));
    cfg.target_modules = ["qkv_proj", "lm_head"];
    fs.writeFileSync(`${dir}/adapter_config.json`, JSON.stringify(cfg));
    fs.copyFileSync(`${TRAIN}/lora-adapter/adapter_model.safetensors`, `${dir}/adapter_model.safetensors`);
    for (const args of [["logits", "-m", MODEL, "--tokens", "1,2", "--adapter", dir], ["merge", "-m", MODEL, "--adapter", dir, "-o", `${dir}/out`]]) {
      const r = await runCli(args);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`openelm: ConfigError: ${dir}/adapter_config.json: target_modules: unknown module "lm_head" (OpenELM's adaptable layers are qkv_proj, out_proj, proj_1, proj_2)\n`);
    }
    expect(fs.existsSync(`${dir}/out`)).toBe(false);
  });
});
