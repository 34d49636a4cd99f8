// The WebGPU backend on whole models beyond the float fixture suite (test/models/openelm.test.ts runs that
// on every backend): the fixture models quantized to q8_0 and q4_0 (io/gguf_quantize.ts) give the same
// logits as the reference backend on the same quantized weights (both widen the blocks exactly and keep
// activations in f32, so only summation order differs: the F32 fixture tolerance, 1e-4, holds); and the
// errors a caller of the wrong API or a machine without an adapter sees.

import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as fs from "node:fs";
import { createRefBackend } from "../../src/kernels/ref/index.js";
import { createWebGPUBackend, type WebGPUBackend } from "../../src/kernels/webgpu/index.js";
import { readCheckpoint } from "../../src/io/model_dir.js";
import { quantizeTensors } from "../../src/io/gguf_quantize.js";
import { loadModelDir, modelFromTensors } from "../../src/models/load.js";
import { createWebGPU } from "./webgpu_cases.js";

const dirOf = (f: string) => new URL(`../fixtures/openelm/${f}`, import.meta.url).pathname;
interface Seq { name: string; input_ids: number[] }

let be: WebGPUBackend;
beforeAll(async () => { be = await createWebGPU(); });
afterAll(() => be?.dispose?.());

describe("quantized fixture models on webgpu against the reference backend", () => {
  // One model a block type (the kernels meet every dtype in webgpu_ops.test.ts); tiny-small-vocab q4_0 is
  // left out: quantizeTensors refuses its 80-wide output matrix.
  for (const [fx, type] of [["tiny-small-vocab", "q8_0"], ["tiny-32k", "q4_0"]] as const) {
    test(`${fx} ${type}: logits of every position within 1e-4, then 8 decode steps through the cache`, async () => {
      const ck = readCheckpoint(dirOf(fx));
      const tensors = quantizeTensors(ck.tensors, type);
      const seqs = (JSON.parse(fs.readFileSync(`${dirOf(fx)}/expected.json`, "utf-8")).sequences as Seq[]).slice(0, 3);
      const gpu = modelFromTensors(ck.config, tensors, be), ref = modelFromTensors(ck.config, tensors, createRefBackend());
      for (const s of seqs) {
        const cg = gpu.newCache(64), cr = ref.newCache(64);
        let want = ref.forward(s.input_ids, cr, { allLogits: true }).slice();
        let got = (await gpu.forwardAsync(s.input_ids, cg, { allLogits: true })).slice();
        const V = ck.config.vocab_size;
        for (let step = 0; step <= 8; step++) {
          let maxErr = 0;
          for (let i = 0; i < want.length; i++) maxErr = Math.max(maxErr, Math.abs(got[i] - want[i]));
          expect(maxErr, `${s.name} step ${step}`).toBeLessThan(1e-4);
          let am = 0;
          const last = want.subarray(want.length - V);
          for (let j = 1; j < V; j++) if (last[j] > last[am]) am = j;
          want = ref.forward([am], cr).slice();
          got = (await gpu.forwardAsync([am], cg)).slice();
        }
      }
    }, 120_000);
  }
});

describe("webgpu backend errors", () => {
  test("forward() on a device backend names forwardAsync", () => {
    const { model } = loadModelDir(dirOf("tiny-small-vocab"), { backend: be });
    expect(() => model.forward([1], model.newCache(4)))
      .toThrow("forward: the webgpu backend computes on a device; use forwardAsync, which reads the logits back");
  });
  test("no adapter and no WebGPU at all are clear errors", async () => {
    const noAdapter = { requestAdapter: async () => null } as unknown as GPU;
    await expect(createWebGPUBackend({ gpu: noAdapter })).rejects.toThrow("webgpu backend: no WebGPU adapter found");
    // Node has no navigator.gpu (the `webgpu` package's GPU object is passed explicitly)
    await expect(createWebGPUBackend()).rejects.toThrow("webgpu backend: this runtime has no WebGPU (navigator.gpu is missing)");
  });
});
