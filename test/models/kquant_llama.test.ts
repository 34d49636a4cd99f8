// K-quant models against llama.cpp's own logits (fixtures/gguf/tiny-kq-llama.json: llama.cpp's C API on the
// files llama-quantize wrote, see FIXTURES.md). Q4_K_M, Q3_K_M and Q4_1 run from llama.cpp's files; the others from
// quantizeTensors, whose bytes equal llama-quantize's (test/io/gguf_kquant.test.ts). Both backends: the
// reference (exact dequantized weights, float32 activations) and wasm (int8 activations: one scale per 256
// inputs against K-quants, as ggml's q8_K, per 32 against q5_0 / q5_1 / q8_0 / q4_0).
// llama.cpp rounds activations to 8 bits per 256 (q8_K) or 32 (q8_0) inputs, which alone moves logits by
// ~0.1-0.3 on such tiny random models (fixtures/gguf/README.md), hence the q8_0/q4_0 tolerances of
// llama-expected.json: |Δlogit| ≤ 0.6, mean KL ≤ 2e-3. Top-1 agreement is over only 33 positions of near-flat
// logits (many top-1/top-2 gaps under the activation noise), so its floor is 80 %, not 90 %.
// Measured: ref on the Q4_K_M file 0.127 / KL 3.9e-4 / 31 of 33; wasm 0.115-0.136 / KL 3.0e-4-3.8e-4 / 30-33 of 33.
// The reference backend runs only on llama.cpp's Q4_K_M file (it is slow); wasm on every type.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Backend } from "../../src/kernels/backend.js";
import { createRefBackend } from "../../src/kernels/ref/index.js";
import { createWasmBackend } from "../../src/kernels/wasm/index.js";
import { initCheckpoint } from "../../src/models/init.js";
import { parseConfig, type OpenELMConfig } from "../../src/models/config.js";
import { readCheckpoint } from "../../src/io/model_dir.js";
import { quantizeTensors, type WeightType } from "../../src/io/gguf_quantize.js";
import { loadGgufCheckpoint } from "../../src/io/gguf_openelm.js";
import { modelFromTensors } from "../../src/models/load.js";
import type { StoredTensor } from "../../src/tensor/tensor.js";
import { argmax, logSoftmax } from "../logit_stats.js";

const FX = new URL("../fixtures/gguf/", import.meta.url).pathname;
interface LlamaSeq { ids: number[]; logits: number[][]; greedy: number[] }
const llama = JSON.parse(fs.readFileSync(path.join(FX, "tiny-kq-llama.json"), "utf-8")) as { seed: number; files: Record<string, LlamaSeq[]> };

let config: OpenELMConfig;
let f32: Map<string, StoredTensor>;
let tmp: string;
const backends: [string, Backend][] = [];
beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kq-"));
  config = parseConfig(JSON.parse(fs.readFileSync(path.join(FX, "tiny-kq/config.json"), "utf-8")));
  initCheckpoint(config, tmp, "f32", llama.seed);
  f32 = readCheckpoint(tmp).tensors;
  backends.push(["ref", createRefBackend()], ["wasm", await createWasmBackend({ threads: 2 })]);
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
  for (const [, b] of backends) b.dispose?.();
});

function compare(type: string, tensors: Map<string, StoredTensor>, which: string): void {
  const seqs = llama.files[type];
  const V = config.vocab_size;
  for (const [name, be] of backends.filter(([n]) => n === which)) {
    const model = modelFromTensors(config, tensors, be);
    let maxAbs = 0, kl = 0, n = 0, agree = 0, greedyEqual = 0;
    for (const s of seqs) {
      const got = model.forward(s.ids, model.newCache(s.ids.length), { allLogits: true });
      s.logits.forEach((row, t) => {
        const want = Float32Array.from(row), ours = got.subarray(t * V, (t + 1) * V);
        for (let j = 0; j < V; j++) maxAbs = Math.max(maxAbs, Math.abs(ours[j] - want[j]));
        const p = logSoftmax(want), q = logSoftmax(ours);
        for (let j = 0; j < V; j++) kl += Math.exp(p[j]) * (p[j] - q[j]);
        n++;
        if (argmax(want) === argmax(ours)) agree++;
      });
      if (name === "ref") continue;
      // Greedy: leading tokens equal to llama.cpp's (reported; the same near-ties make it unpinnable).
      const cache = model.newCache(s.ids.length + s.greedy.length);
      let logits = model.forward(s.ids, cache);
      let k = 0;
      for (; k < s.greedy.length; k++) {
        const next = argmax(logits);
        if (next !== s.greedy[k]) break;
        logits = model.forward([next], cache);
      }
      greedyEqual += k;
    }
    const greedy = name === "ref" ? "" : `, greedy leading equal ${greedyEqual}/${seqs.length * 16}`;
    console.log(`${type} ${name}: max |Δlogit| ${maxAbs.toFixed(3)}, mean KL ${(kl / n).toExponential(2)}, top-1 ${agree}/${n}${greedy}`);
    expect(maxAbs, `${type} ${name} max |Δlogit|`).toBeLessThanOrEqual(0.6);
    expect(kl / n, `${type} ${name} mean KL`).toBeLessThanOrEqual(2e-3);
    expect(agree / n, `${type} ${name} top-1 agreement`).toBeGreaterThanOrEqual(0.8);
  }
}

describe("K-quant tiny-kq logits vs llama.cpp", () => {
  for (const which of ["ref", "wasm"]) {
    test(`q4_k_m: llama-quantize's file, ${which} backend`, () => {
      const ck = loadGgufCheckpoint(path.join(FX, "tiny-kq-q4_k_m.gguf"));
      try { compare("q4_k_m", ck.tensors, which); } finally { ck.close(); }
    }, 60_000);
  }
  for (const type of ["q3_k_m", "q4_1"]) { // Q3_K and Q4_1 blocks read transcoded (q6_k, q5_1)
    test(`${type}: llama-quantize's file, wasm backend`, () => {
      const ck = loadGgufCheckpoint(path.join(FX, `tiny-kq-${type}.gguf`));
      try { compare(type, ck.tensors, "wasm"); } finally { ck.close(); }
    }, 60_000);
  }
  for (const type of ["q4_k_s", "q5_k_m", "q6_k", "q4_0"] as WeightType[]) {
    test(`${type}: quantizeTensors, wasm backend`, () => compare(type, quantizeTensors(f32, type), "wasm"), 60_000);
  }
});
