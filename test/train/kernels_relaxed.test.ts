// The relaxed-SIMD (fused multiply-add) build of the kernel module, as `openelm train` runs it: the V8 flag
// is set before the module compiles, then a fixture's loss and gradients go through its training kernels.

import { expect, test } from "vitest";
import { expectFixtureGradients } from "./train_fixture.js";
import { enableRelaxedSimd } from "../../src/kernels/wasm/relaxed_simd.js";

enableRelaxedSimd();
const { createWasmBackend } = await import("../../src/kernels/wasm/index.js");

test("fixture gradients through the fused-multiply-add kernels (tiny-small-vocab, ce + z-loss)", async () => {
  const be = await createWasmBackend({ threads: 1, relaxed: true });
  expect(be.training!.name).toBe("wasm-relaxed");
  expectFixtureGradients(be);
  be.dispose();
});
