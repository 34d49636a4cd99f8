// The relaxed-SIMD (fused multiply-add) build of the training kernels, as `openelm train` runs them: the
// V8 flag is set before the module compiles, then a fixture's loss and gradients go through it.

import * as path from "node:path";
import * as v8 from "node:v8";
import { expect, test } from "vitest";
import { readFixtureTensors } from "./fixture_tensors.js";
import { loadTrainFixture, TRAIN_FX } from "./train_fixture.js";

v8.setFlagsFromString("--experimental-wasm-relaxed-simd");
const { createWasmTrainKernels } = await import("../../src/train/wasm/train_kernels.js");
const { TrainableOpenELM } = await import("../../src/train/openelm_train.js");
const { loadParams } = await import("../../src/train/parameters.js");

test("fixture gradients through the fused-multiply-add kernels (tiny-small-vocab, ce + z-loss)", async () => {
  const k = await createWasmTrainKernels(1);
  expect(k.name).toBe("wasm-simd-fma ×1");
  const fx = loadTrainFixture("tiny-small-vocab");
  const m = new TrainableOpenELM(fx.ck.config, k);
  loadParams(m.layout, m.params, fx.ck.tensors, "model.safetensors");
  m.zeroGrad();
  const r = m.forward(fx.ids, fx.targets, fx.B, fx.T, 1e-4);
  expect(Math.abs(r.ce + r.zLoss - fx.exp.loss.ce_plus_z_loss)).toBeLessThan(1e-6 * fx.exp.loss.ce_plus_z_loss);
  m.backward();
  for (const [name, ref] of readFixtureTensors(path.join(TRAIN_FX, "tiny-small-vocab/grads_ce_plus_z_loss.safetensors"))) {
    const g = m.view(m.grads, name);
    let maxRef = 0, maxDiff = 0;
    for (let i = 0; i < g.length; i++) { maxRef = Math.max(maxRef, Math.abs(ref.data[i])); maxDiff = Math.max(maxDiff, Math.abs(g[i] - ref.data[i])); }
    expect(maxDiff, name).toBeLessThanOrEqual(Math.min(1e-5, 1e-4 * maxRef + 1e-7));
  }
});
