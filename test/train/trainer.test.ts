// The trainer end to end on a byte-level toy corpus: resume reproduces an uninterrupted run bit for bit,
// a checkpoint loads with the inference loader and gives the in-memory logits, failed runs leave the
// last good checkpoint alone, and bad data / recipes fail with pinned messages.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { loadModel } from "../../src/models/load.js";
import { openTokenData, PackedSampler, prepareData, type DocumentEncoder } from "../../src/train/data.js";
import { TrainableOpenELM } from "../../src/train/openelm_train.js";
import { loadRecipe } from "../../src/train/recipe.js";
import { train } from "../../src/train/trainer.js";

/** Bytes as tokens 3 … 258 (BOS 1, EOS 2): a tokenizer that needs no model file. */
const byteEncoder: DocumentEncoder = {
  vocabSize: 259, bosId: 1, eosId: 2, source: "bytes",
  encode: (text, o) => [...(o?.bos === false ? [] : [1]), ...Buffer.from(text, "utf-8").map((b) => b + 3)],
};

const MODEL = {
  model_type: "openelm", vocab_size: 259, num_transformer_layers: 2, model_dim: 32, head_dim: 8,
  num_query_heads: [2, 4], num_kv_heads: [1, 2], ffn_multipliers: [1.0, 2.0], ffn_dim_divisor: 8,
  normalize_qk_projections: true, share_input_output_layers: true, max_context_length: 64,
};

const TEXT = Array.from({ length: 12 }, (_, d) =>
  Array.from({ length: 20 }, (_, i) => `Document ${d} says line ${i}: the quick brown fox ${d * i % 7} jumps.`).join("\n")).join("\n\n");

let tmp = "";
let dataDir = "";
const writeRecipe = (name: string, extra: Record<string, unknown> = {}) => {
  const f = path.join(tmp, `${name}.json`);
  fs.writeFileSync(f, JSON.stringify({
    model: MODEL, context_length: 16, batch_size: 2, grad_accumulation: 2, max_iterations: 6, max_lr: 3e-3,
    min_lr: 3e-4, warmup_iterations: 2, seed: 7, eval_every: 3, eval_batches: 2, save_every: 0, ...extra,
  }));
  return f;
};

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "openelm-train-"));
  fs.writeFileSync(path.join(tmp, "corpus.txt"), TEXT);
  dataDir = path.join(tmp, "data");
  await prepareData({ inputs: [path.join(tmp, "corpus.txt")], out: dataDir, encoder: byteEncoder, valFraction: 0.2 });
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("data", () => {
  test("prepare splits documents, appends EOS, and the index describes the shards", () => {
    const d = openTokenData(dataDir);
    expect(d.index.documents).toEqual({ train: 10, val: 2 });
    expect(d.train[0]).toBe(1);
    expect(d.train.filter((t) => t === 2).length).toBe(10);
    expect(d.index.tokens.train + d.index.tokens.val).toBe(TEXT.replace(/\n\n/g, "").length + 12 * 2);
  });

  test("the sampler is deterministic from (seed, position) and visits every window once an epoch", () => {
    const d = openTokenData(dataDir);
    const a = new PackedSampler(d.train, 16, 5), ids = new Int32Array(16), tg = new Int32Array(16);
    const seen: string[] = [], all: string[] = [];
    for (let i = 0; i < a.windows; i++) {
      a.next(1, ids, tg);
      seen.push(ids.join(","));
      all.push(Array.from(d.train.subarray(i * 16, i * 16 + 16)).join(","));
    }
    expect(seen).not.toEqual(all);
    expect([...seen].sort()).toEqual([...all].sort());
    const b = new PackedSampler(d.train, 16, 5, 3), c = new PackedSampler(d.train, 16, 5);
    for (let i = 0; i < 3; i++) c.next(1, ids, tg);
    const x = new Int32Array(16), y = new Int32Array(16);
    b.next(1, x, tg); c.next(1, y, tg);
    expect(Array.from(x)).toEqual(Array.from(y));
    expect(tg[0]).toBe(y[1]);
  });
});

describe("trainer", () => {
  test("N steps straight = N/2 + save + resume + N/2: identical losses, parameters and moments", async () => {
    const recipe = loadRecipe(writeRecipe("r"));
    const straight = await train({ recipe, dataDir, outDir: path.join(tmp, "straight") });
    const half = await train({ recipe, dataDir, outDir: path.join(tmp, "halves"), stopAfter: 3 });
    expect(half.step).toBe(3);
    const lines: string[] = [];
    const rest = await train({ recipe, dataDir, outDir: path.join(tmp, "halves"), resume: true, onStatus: (l) => lines.push(l) });
    expect(lines.some((l) => l.startsWith("--resume: recipe changed"))).toBe(false);
    expect(rest.step).toBe(6);
    expect([...half.losses, ...rest.losses]).toEqual(straight.losses);
    expect(straight.losses[5]).toBeLessThan(straight.losses[0]);
    for (const f of ["model.safetensors", "optimizer.safetensors"])
      expect(fs.readFileSync(path.join(tmp, "halves/checkpoint", f)).equals(fs.readFileSync(path.join(tmp, "straight/checkpoint", f)))).toBe(true);
    const rows = fs.readFileSync(path.join(tmp, "halves/metrics.jsonl"), "utf-8").trim().split("\n").map((l) => JSON.parse(l));
    expect(rows.filter((r) => r.loss !== undefined).map((r) => r.loss)).toEqual(straight.losses);
    expect(rows.filter((r) => r.val_loss !== undefined).map((r) => r.step)).toEqual([3, 6]);
    expect(fs.readFileSync(path.join(tmp, "halves/loss_curve.svg"), "utf-8")).toMatch(/^<svg[^]*<polyline[^]*<\/svg>\n$/);
  });

  test("a checkpoint loads with loadModel and gives the logits of the in-memory parameters", async () => {
    const recipe = loadRecipe(writeRecipe("r2", { max_iterations: 2 }));
    const res = await train({ recipe, dataDir, outDir: path.join(tmp, "ck") });
    const loaded = await loadModel(res.checkpointDir);
    const mem = new TrainableOpenELM(recipe.config);
    mem.params.set(res.params);
    const ids = [1, 40, 80, 120, 3, 200, 258, 17, 99];
    mem.forward(ids, null, 1, ids.length);
    const want = mem.logits().slice(0, ids.length * 259);
    const got = loaded.forward(ids, loaded.newCache(), { allLogits: true });
    let max = 0;
    for (let i = 0; i < want.length; i++) max = Math.max(max, Math.abs(got[i] - want[i]));
    expect(max).toBeLessThan(2e-5);
  });

  test("--resume from a checkpoint of another model config is refused", async () => {
    const other = loadRecipe(writeRecipe("other", { model: { ...MODEL, model_dim: 48 } }));
    await expect(train({ recipe: other, dataDir, outDir: path.join(tmp, "straight"), resume: true }))
      .rejects.toThrow(/^--resume .*straight\/checkpoint: the checkpoint is of another model config than .*other\.json \(model_dim 32 vs 48\)$/);
  });

  test("--resume with a changed schedule says which recipe fields changed", async () => {
    const dir = path.join(tmp, "changed");
    await train({ recipe: loadRecipe(writeRecipe("c1", { max_iterations: 2 })), dataDir, outDir: dir });
    const lines: string[] = [];
    const res = await train({ recipe: loadRecipe(writeRecipe("c2", { max_iterations: 3 })), dataDir, outDir: dir, resume: true, onStatus: (l) => lines.push(l) });
    expect(res.step).toBe(3);
    expect(lines).toContain("--resume: recipe changed since the checkpoint: max_iterations 2 → 3");
  });

  test("a run that diverges stops without touching the last good checkpoint", async () => {
    const dir = path.join(tmp, "diverge");
    await train({ recipe: loadRecipe(writeRecipe("d1", { max_iterations: 2 })), dataDir, outDir: dir });
    const before = fs.readFileSync(path.join(dir, "checkpoint/model.safetensors"));
    const bad = loadRecipe(writeRecipe("d1b", { max_iterations: 4, max_lr: 1e30, min_lr: 1e30, warmup_iterations: 0 }));
    await expect(train({ recipe: bad, dataDir, outDir: dir, resume: true })).rejects.toThrow(/^step \d: loss is (NaN|Infinity), gradient norm .*; stopped without saving \(the last good checkpoint in .*diverge\/checkpoint is left as it was\)$/);
    expect(fs.readFileSync(path.join(dir, "checkpoint/model.safetensors")).equals(before)).toBe(true);
    expect(JSON.parse(fs.readFileSync(path.join(dir, "checkpoint/trainer_state.json"), "utf-8")).step).toBe(2);
  });

  test("a fresh run into a directory with a checkpoint is refused (no overwrite)", async () => {
    await expect(train({ recipe: loadRecipe(writeRecipe("r")), dataDir, outDir: path.join(tmp, "straight") }))
      .rejects.toThrow(/already holds a checkpoint .*pass --resume to continue it or choose another --out$/);
  });
});

describe("bad input", () => {
  test("unknown recipe field", () => {
    const f = writeRecipe("typo", { lr_max: 1 });
    expect(() => loadRecipe(f)).toThrow(`${f}: unknown field "lr_max" (recipe fields: model, context_length, batch_size, grad_accumulation, max_iterations, max_lr, min_lr, warmup_iterations, warmup_init_lr, weight_decay, betas, eps, grad_clip, z_loss_coef, seed, eval_every, eval_batches, save_every, log_every, activation_checkpointing, init_from, description)`);
  });

  test("empty corpus", async () => {
    const f = path.join(tmp, "empty.txt");
    fs.writeFileSync(f, "\n\n  \n");
    await expect(prepareData({ inputs: [f], out: path.join(tmp, "e"), encoder: byteEncoder }))
      .rejects.toThrow(`--input ${f}: no text found (1 file, 0 documents)`);
  });

  test("glob matching nothing", async () => {
    await expect(prepareData({ inputs: [path.join(tmp, "nope*.txt")], out: path.join(tmp, "e"), encoder: byteEncoder }))
      .rejects.toThrow(`--input "${path.join(tmp, "nope*.txt")}": no files match`);
  });

  test("corrupt shard: wrong size, flipped byte", async () => {
    const d = path.join(tmp, "corrupt");
    fs.cpSync(dataDir, d, { recursive: true });
    const shard = path.join(d, "train-00000.bin");
    const bytes = fs.readFileSync(shard);
    bytes[100] ^= 1;
    fs.writeFileSync(shard, bytes);
    expect(() => openTokenData(d)).toThrow(/^.*train-00000\.bin: corrupt shard: SHA-256 [0-9a-f]{12}… does not match index\.json \([0-9a-f]{12}…\)$/);
    fs.writeFileSync(shard, bytes.subarray(0, 10));
    expect(() => openTokenData(d)).toThrow(`${shard}: corrupt shard: 10 bytes, index.json says ${bytes.length / 2} tokens (${bytes.length} bytes)`);
  });
});
