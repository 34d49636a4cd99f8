// Quantized weights against float weights on a trained model: the embedded default model (assets, BF16)
// read as f32, q8_0 and q4_0 (llama.cpp's per-tensor rules, `--dtype`), over held-out novel text. The
// issue's acceptance: top-1 agrees with F32 on ≥ 97 % of positions for q8_0 and ≥ 90 % for q4_0, mean KL
// reported; Q4_K_M: top-1 and KL at least as good as q4_0's. (On the random-weight fixtures these rates are out of reach even for llama.cpp's own
// quantization, see wasm_quant_model.test.ts; a trained model has the peaked distributions they assume.)
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as fs from "node:fs";
import { openCheckpoint, type WeightDType } from "../../src/models/load.js";
import { defaultModelDir } from "../../src/models/registry.js";
import { loadTokenizer } from "../../src/tokenizer/sentencepiece.js";
import { createWasmBackend, type WasmBackend } from "../../src/kernels/wasm/index.js";
import { argmax, logSoftmax } from "../logit_stats.js";

const TEXT = new URL("../fixtures/text/validation-excerpts.txt", import.meta.url);

describe("quantized default model vs float", () => {
  let be: WasmBackend;
  let seqs: number[][];
  const logits = new Map<string, Float32Array[]>();
  const run = async (dtype: WeightDType) => {
    const { model } = await openCheckpoint(defaultModelDir(), { backend: be, dtype });
    return seqs.map((ids) => model.forward(ids, model.newCache(ids.length), { allLogits: true }).slice());
  };
  beforeAll(async () => {
    be = await createWasmBackend({ threads: 2 });
    const tok = await loadTokenizer();
    seqs = fs.readFileSync(TEXT, "utf-8").trim().split("\n\n").map((p) => tok.encode(p, { bos: true }));
    logits.set("f32", await run("f32"));
  });
  afterAll(() => be.dispose());

  const stats = new Map<WeightDType, { agree: number; kl: number }>();
  const measure = async (dtype: WeightDType) => {
    const q = await run(dtype), f = logits.get("f32")!;
    const V = 32000;
    let agree = 0, n = 0, kl = 0;
    f.forEach((fl, s) => {
      for (let t = 0; t < fl.length / V; t++) {
        const a = fl.subarray(t * V, (t + 1) * V), b = q[s].subarray(t * V, (t + 1) * V);
        if (argmax(a) === argmax(b)) agree++;
        const la = logSoftmax(a), lb = logSoftmax(b);
        for (let j = 0; j < V; j++) kl += Math.exp(la[j]) * (la[j] - lb[j]);
        n++;
      }
    });
    console.log(`${dtype}: top-1 agreement ${agree}/${n} (${(100 * agree / n).toFixed(1)} %), mean KL to f32 ${(kl / n).toExponential(2)}`);
    stats.set(dtype, { agree: agree / n, kl: kl / n });
    return stats.get(dtype)!;
  };

  for (const [dtype, minAgree] of [["q8_0", 0.97], ["q4_0", 0.9]] as const) {
    test(`${dtype}: top-1 agrees with f32 on ≥ ${minAgree * 100} % of positions`, async () => {
      const { agree, kl } = await measure(dtype);
      expect(agree).toBeGreaterThanOrEqual(minAgree);
      expect(kl).toBeLessThan(dtype === "q8_0" ? 1e-3 : 2e-2);
    });
  }

  // The model is 192 wide, not a multiple of 256, so llama-quantize's Q4_K_M holds no K-quant at all: its
  // fallbacks Q5_0 (for Q4_K), Q5_1 (Q5_K) and Q8_0 (Q6_K, and the output matrix). Same here, byte for byte.
  test("q4_k_m: top-1 agreement ≥ q4_0's and mean KL ≤ q4_0's", async () => {
    const k = await measure("q4_k_m"), q4 = stats.get("q4_0") ?? await measure("q4_0");
    expect(k.agree).toBeGreaterThanOrEqual(q4.agree);
    expect(k.kl).toBeLessThanOrEqual(q4.kl);
  });
});
