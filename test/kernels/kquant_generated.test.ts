// The q4_K / q5_K decode and prefill steps in matmul_kquant.ts are written by scripts/gen_kquant_steps.mjs: the source
// must be what the generator writes, so an edit by hand cannot drift from it.
import { execFileSync } from "node:child_process";
import { expect, test } from "vitest";

test("matmul_kquant.ts holds the generator's current decode and prefill steps", () => {
  const script = new URL("../../scripts/gen_kquant_steps.mjs", import.meta.url).pathname;
  expect(() => execFileSync(process.execPath, [script, "--check"], { stdio: "pipe" })).not.toThrow();
});
