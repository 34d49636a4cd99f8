// LoRA / DoRA applied unmerged in the forward pass, against the float64 PyTorch (PEFT semantics) fixtures of
// test/fixtures/openelm-train: the loss of the fixture batch with each adapter, on every backend.
import { describe, expect, test } from "vitest";
import * as fs from "node:fs";
import { loadModelDir } from "../../src/models/load.js";
import { readPeftAdapter } from "../../src/io/peft_adapter.js";
import type { OpenELMModel } from "../../src/models/openelm.js";
import { BACKENDS } from "../backends.js";

const trainDir = (f: string) => new URL(`../fixtures/openelm-train/${f}`, import.meta.url).pathname;
const modelDir = (f: string) => new URL(`../fixtures/openelm/${f}`, import.meta.url).pathname;

interface Batch { input_ids: number[][]; labels: number[][]; n_targets: number }

/** Mean cross-entropy over the counted targets of the batch (HF semantics: labels shifted inside). */
export async function batchLoss(model: OpenELMModel, batch: Batch): Promise<number> {
  const V = model.config.vocab_size;
  let sum = 0, n = 0;
  for (const [b, ids] of batch.input_ids.entries()) {
    const logits = await model.forwardAsync(ids, model.newCache(ids.length), { allLogits: true }); // every backend, devices too
    for (let t = 0; t + 1 < ids.length; t++) {
      const y = batch.labels[b][t + 1];
      if (y === -100) continue;
      const row = logits.subarray(t * V, (t + 1) * V);
      let m = -Infinity;
      for (const v of row) m = Math.max(m, v);
      let s = 0;
      for (const v of row) s += Math.exp(v - m);
      sum += m + Math.log(s) - row[y];
      n++;
    }
  }
  expect(n).toBe(batch.n_targets);
  return sum / n;
}

test("a device backend (webgpu) refuses adapters with a clear error instead of computing them wrong", async () => {
  const webgpu = BACKENDS.find((b) => b.name === "webgpu")!;
  const { model } = loadModelDir(modelDir("tiny-small-vocab"), { backend: await webgpu.create() });
  expect(() => model.attach("lora", readPeftAdapter(`${trainDir("tiny-small-vocab")}/lora-adapter`, model.config)))
    .toThrow('adapter "lora": not supported on the webgpu backend yet; use the wasm or ref backend');
  model.backend.dispose?.();
});

for (const be of BACKENDS.filter((b) => !b.name.startsWith("webgpu"))) {
  describe(`adapters in the forward pass [${be.name}]`, () => {
    for (const fx of ["tiny-small-vocab", "tiny-32k"]) {
      // The reference backend takes ~4 s a pass over tiny-32k's 32k vocabulary: DoRA only there (it runs LoRA's path too).
      const big = fx === "tiny-32k" && be.name === "ref";
      test(`${fx}: ${big ? "DoRA loss matches" : "base, LoRA and DoRA losses match"} the reference; one base serves both adapters`, async () => {
        const expected = JSON.parse(fs.readFileSync(`${trainDir(fx)}/expected.json`, "utf8"));
        const { model } = loadModelDir(modelDir(fx), { backend: await be.create() });
        const tol = 2e-5; // fixtures README: lora.loss / dora.loss abs 2e-5 for float32
        const dora = model.withAdapter(model.attach("dora", readPeftAdapter(`${trainDir(fx)}/dora-adapter`, model.config)));
        if (big) {
          expect(Math.abs(await batchLoss(dora, expected.batch) - expected.dora.loss)).toBeLessThan(tol);
          return;
        }
        const lora = model.withAdapter(model.attach("lora", readPeftAdapter(`${trainDir(fx)}/lora-adapter`, model.config)));
        // Interleaved on purpose: the views share work buffers, and the base must stay untouched.
        expect(Math.abs(await batchLoss(lora, expected.batch) - expected.lora.loss)).toBeLessThan(tol);
        expect(Math.abs(await batchLoss(model, expected.batch) - expected.loss.ce)).toBeLessThan(tol);
        expect(Math.abs(await batchLoss(dora, expected.batch) - expected.dora.loss)).toBeLessThan(tol);
        expect(Math.abs(await batchLoss(lora, expected.batch) - expected.lora.loss)).toBeLessThan(tol);
        model.backend.dispose?.();
      });
    }
  });
}

describe("a new adapter (PEFT's initial state)", () => {
  test("LoRA and DoRA start equal to the base; A within kaiming-uniform's bound", async () => {
    const { newPeftAdapter, backendRows, baseWeightName } = await import("../../src/models/adapter.js");
    const { Rng } = await import("../../src/tensor/rng.js");
    const { model } = loadModelDir(modelDir("tiny-small-vocab"));
    const ids = [1, 17, 42, 99, 5, 300, 2];
    const base = model.forward(ids, model.newCache(16), { allLogits: true }).slice();
    for (const useDora of [false, true]) {
      const key = { qkv_proj: "qkv_proj", out_proj: "out_proj", proj_1: "proj_1", proj_2: "proj_2" } as const;
      const a = newPeftAdapter(model.config, { r: 4, alpha: 8, useDora }, new Rng(7),
        (i, t) => backendRows(model.backend, model.weights.layers[i][key[t]]));
      const m = a.layers[3].proj_1!;
      const bound = 1 / Math.sqrt(m.in);
      expect(Math.max(...m.A.map(Math.abs))).toBeLessThanOrEqual(bound);
      expect(Math.max(...m.A.map(Math.abs))).toBeGreaterThan(0.9 * bound);
      expect(m.B.every((x) => x === 0)).toBe(true);
      expect(baseWeightName(3, "proj_1")).toBe("transformer.layers.3.ffn.proj_1.weight");
      const view = model.withAdapter(model.attach("new", a));
      const got = view.forward(ids, view.newCache(16), { allLogits: true });
      let d = 0;
      for (let k = 0; k < got.length; k++) d = Math.max(d, Math.abs(got[k] - base[k]));
      expect(d, useDora ? "dora" : "lora").toBeLessThan(1e-5);
    }
  });
});
