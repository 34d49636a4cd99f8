// The spelled-out code of the q5_K decode tile and the q4_K / q5_K prefill tiles (matmul_kquant.ts) and of the
// q8_0 / q4_0 prefill tile (matmul_quant.ts) is written by scripts/gen_steps.mjs: the sources must be what the
// generator writes, so an edit by hand cannot drift from it.
import { execFileSync } from "node:child_process";
import { expect, test } from "vitest";

test("the kernel sources hold the generator's current steps", () => {
  const script = new URL("../../scripts/gen_steps.mjs", import.meta.url).pathname;
  expect(() => execFileSync(process.execPath, [script, "--check"], { stdio: "pipe" })).not.toThrow();
});
