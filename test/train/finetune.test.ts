// Supervised fine-tuning: the loss counts assistant tokens only (prompt tokens get no loss, so no gradient),
// and a tiny run end to end (LoRA into a PEFT adapter directory, full into a checkpoint), resumed bit for bit.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { readPeftAdapter } from "../../src/io/peft_adapter.js";
import { createWasmBackend, type WasmBackend } from "../../src/kernels/wasm/index.js";
import { checkpointTokenizer, type Tokenizer } from "../../src/tokenizer/sentencepiece.js";
import { FINETUNE_DEFAULTS, finetune, type FinetuneSettings } from "../../src/train/finetune.js";
import { hfTargets, TrainableOpenELM } from "../../src/train/openelm_train.js";
import { loadParams } from "../../src/train/parameters.js";
import { encodeConversation } from "../../src/train/sft_data.js";
import { CKPT_FX } from "./train_fixture.js";
import { readCheckpoint } from "../../src/io/model_dir.js";

const MODEL = path.join(CKPT_FX, "tiny-32k");
let tmp = "", DATA = "", tok: Tokenizer, be: WasmBackend;
beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "openelm-finetune-"));
  DATA = path.join(tmp, "sft.jsonl"); // chat messages, 12 examples
  fs.writeFileSync(DATA, Array.from({ length: 12 }, (_, i) => JSON.stringify({ messages: [
    { role: "user", content: `What is ${i} plus ${i + 1}?` }, { role: "assistant", content: `${i} plus ${i + 1} is ${2 * i + 1}.` }] })).join("\n") + "\n");
  tok = await checkpointTokenizer(MODEL);
  be = await createWasmBackend({ threads: 1 });
});
afterAll(() => { fs.rmSync(tmp, { recursive: true, force: true }); be.dispose(); });

test("SFT loss: the mean over the assistant reply's tokens only", () => {
  const ck = readCheckpoint(MODEL);
  const ex = encodeConversation(tok, [{ role: "user", content: "Name a colour." }, { role: "assistant", content: "Blue, like the sky." }]);
  const T = ex.ids.length, first = ex.labels.findIndex((l) => l !== -100);
  const scored = ex.labels.map((l, t) => (l !== -100 ? t : -1)).filter((t) => t >= 0);
  expect(first).toBeGreaterThan(3);                                  // a prompt is there, unscored
  expect(scored.every((t) => ex.labels[t] === ex.ids[t])).toBe(true);
  expect(scored.length).toBeGreaterThan(3);
  const m = new TrainableOpenELM(ck.config, be);
  loadParams(m.layout, m.params, ck.tensors, MODEL);
  const targets = hfTargets(ex.labels, 1, T);
  const r = m.forward(ex.ids, targets, 1, T, 0);
  expect(r.count).toBe(scored.length);
  const logits = m.logits(), V = ck.config.vocab_size;
  let sum = 0;
  for (const t of scored.map((u) => u - 1)) { // position t predicts token t + 1
    let max = -Infinity, s = 0;
    for (let i = 0; i < V; i++) max = Math.max(max, logits[t * V + i]);
    for (let i = 0; i < V; i++) s += Math.exp(logits[t * V + i] - max);
    sum += max + Math.log(s) - logits[t * V + ex.ids[t + 1]];
  }
  expect(Math.abs(r.ce - sum / scored.length)).toBeLessThan(1e-5);
  // no gradient from the prompt: moving every prompt target to a scored token changes the gradient, -100 leaves it as the
  // reply-only loss (the rows of ignored targets are zeroed before the backward)
  const same = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  m.zeroGrad(); m.forward(ex.ids, targets, 1, T, 0); m.backward();
  const g = m.grads.slice();
  const noPrompt = Int32Array.from(targets, (y, t) => (t < first - 1 ? -100 : y));
  m.zeroGrad(); m.forward(ex.ids, noPrompt, 1, T, 0); m.backward();
  expect(same(m.grads, g)).toBe(true);
  const withPrompt = Int32Array.from(targets, (y, t) => (t < T - 1 ? ex.ids[t + 1] : y));
  m.zeroGrad(); m.forward(ex.ids, withPrompt, 1, T, 0); m.backward();
  expect(same(m.grads, g)).toBe(false);
});

const settings = (o: Partial<FinetuneSettings>): FinetuneSettings => ({
  ...FINETUNE_DEFAULTS, context_length: 48, batch_size: 2, max_iterations: 4, warmup_iterations: 1, max_lr: 1e-3, min_lr: 1e-4,
  eval_every: 2, eval_batches: 1, save_every: 2, val_fraction: 0.2, r: 4, alpha: 8, dropout: 0.1, ...o,
});

test("LoRA fine-tuning end to end: a PEFT adapter, metrics, validation, and --resume reproduces the losses", async () => {
  const run = (out: string, o: { resume?: boolean; stopAfter?: number }) =>
    finetune({ modelDir: MODEL, dataFile: DATA, outDir: out, tokenizer: tok, settings: settings({ method: "lora" }), backend: be, ...o });
  const whole = await run(path.join(tmp, "a"), {});
  expect(whole.losses.length).toBe(4);
  const first = await run(path.join(tmp, "b"), { stopAfter: 2 });
  expect(first.stoppedEarly).toBe(true);
  const rest = await run(path.join(tmp, "b"), { resume: true });
  expect([...first.losses, ...rest.losses]).toEqual(whole.losses);
  const ad = readPeftAdapter(path.join(tmp, "b/adapter"), readCheckpoint(MODEL).config);
  expect(ad.layers[0].qkv_proj!.r).toBe(4);
  expect(ad.layers[0].qkv_proj!.B.some((v) => v !== 0)).toBe(true); // trained off PEFT's B = 0
  const rows = fs.readFileSync(path.join(tmp, "b/metrics.jsonl"), "utf-8").trim().split("\n").map((l) => JSON.parse(l));
  expect(rows.filter((r) => "loss" in r).map((r) => r.step)).toEqual([1, 2, 3, 4]);
  expect(rows.filter((r) => "val_loss" in r).map((r) => r.step)).toEqual([2, 4]);
  expect(fs.existsSync(path.join(tmp, "b/loss_curve.svg"))).toBe(true);
  await expect(run(path.join(tmp, "a"), {})).rejects.toThrow(/already holds a run/);
});

test("full fine-tuning with packing writes a loadable checkpoint", async () => {
  const out = path.join(tmp, "full");
  const r = await finetune({ modelDir: MODEL, dataFile: DATA, outDir: out, tokenizer: tok, backend: be,
    settings: settings({ method: "full", packing: true, max_iterations: 2, eval_every: 0 }) });
  expect(r.losses.length).toBe(2);
  const ck = readCheckpoint(path.join(out, "checkpoint"));
  const base = readCheckpoint(MODEL);
  expect(ck.config.vocab_size).toBe(base.config.vocab_size);
  expect(Buffer.compare(ck.tensors.get("transformer.norm.weight")!.data, base.tensors.get("transformer.norm.weight")!.data)).not.toBe(0);
});

test("DPO end to end on a LoRA adapter: loss starts at log 2 (policy = reference), rewards and accuracy logged", async () => {
  const file = path.join(tmp, "pairs.jsonl");
  fs.writeFileSync(file, Array.from({ length: 6 }, (_, i) => JSON.stringify({ prompt: `Say ${i}.`, chosen: `${i}.`, rejected: `No, ${i + 1}!` })).join("\n") + "\n");
  const out = path.join(tmp, "dpo");
  const r = await finetune({ modelDir: MODEL, dataFile: file, outDir: out, tokenizer: tok, backend: be,
    settings: settings({ method: "dpo", dpo_params: "lora", beta: 0.5, context_length: 32, max_iterations: 2, eval_every: 1, val_fraction: 0.34, dropout: 0 }) });
  expect(Math.abs(r.losses[0] - Math.log(2))).toBeLessThan(1e-6); // B = 0: the adapter changes nothing yet
  const rows = fs.readFileSync(path.join(out, "metrics.jsonl"), "utf-8").trim().split("\n").map((l) => JSON.parse(l));
  expect(rows.filter((x) => "reward_accuracy" in x)).toHaveLength(2);
  expect(rows.filter((x) => "val_reward_margin" in x)).toHaveLength(2);
  expect(fs.existsSync(path.join(out, "adapter/adapter_model.safetensors"))).toBe(true);
});
