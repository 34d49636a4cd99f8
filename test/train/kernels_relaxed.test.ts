// The relaxed-SIMD (fused multiply-add) build of the training kernels, as `openelm train` runs them: the
// V8 flag is set before the module compiles, then a fixture's loss and gradients go through it.

import * as v8 from "node:v8";
import { expect, test } from "vitest";
import { expectFixtureGradients } from "./train_fixture.js";

v8.setFlagsFromString("--experimental-wasm-relaxed-simd");
const { createWasmTrainKernels } = await import("../../src/train/wasm/train_kernels.js");

test("fixture gradients through the fused-multiply-add kernels (tiny-small-vocab, ce + z-loss)", async () => {
  const k = await createWasmTrainKernels(1);
  expect(k.name).toBe("wasm-simd-fma ×1");
  expectFixtureGradients(k);
});
