// Logits through our model from GGUF weights, against the fixtures (test/fixtures/gguf, from ../shared):
// dequant-expected.json (float64 reference on the dequantized weights: tight), llama-expected.json
// (llama.cpp's own logits: loose, it rounds activations), quantized-vs-F32 agreement, and write -> read
// giving identical logits.
import { afterAll, describe, expect, test } from "vitest";
import { yieldToRunner } from "../yield.js";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { readGguf, writeGguf } from "../../src/io/gguf_openelm.js";
import { quantizeTensors } from "../../src/io/gguf_quantize.js";
import { readTokenizerModelVocab } from "../../src/io/gguf_vocab.js";
import { readCheckpoint } from "../../src/io/model_dir.js";
import { modelFromTensors } from "../../src/models/load.js";
import type { OpenELMModel } from "../../src/models/openelm.js";
import { createRefBackend } from "../../src/kernels/ref/index.js";

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), "gguf-model-"));
afterAll(() => fs.rmSync(TMP, { recursive: true, force: true }));
const FX = new URL("../fixtures/gguf/", import.meta.url).pathname;
const TINY = new URL("../fixtures/openelm/tiny-32k", import.meta.url).pathname;
const readJson = (f: string) => JSON.parse(fs.readFileSync(f, "utf-8"));

interface Seq {
  name: string; input_ids: number[]; argmax: number[]; argmax_ambiguous_positions: number[];
  top5_ids: number[][]; top5_logits: number[][]; logsumexp: number[]; next_token_logprob: number[];
  perplexity: number | null; logits_rows: { positions: number[]; values: number[][] };
  greedy: { steps: number; tokens: number[]; top1_minus_top2: number[] };
}
interface Run { logits: Float32Array; greedy: number[] }

function logsumexp(r: Float32Array): number {
  let m = -Infinity;
  for (const v of r) m = Math.max(m, v);
  let s = 0;
  for (const v of r) s += Math.exp(v - m);
  return m + Math.log(s);
}
function argmax(r: Float32Array): number {
  let a = 0;
  for (let j = 1; j < r.length; j++) if (r[j] > r[a]) a = j;
  return a;
}

/**
 * All-position logits of each sequence, then greedy tokens through the KV cache for the sequences named in
 * `greedyFor` (the reference backend dequantizes every weight row at each decode step, so greedy runs are
 * kept to one sequence to hold the file to seconds).
 */
async function run(model: OpenELMModel, seqs: Seq[], greedyFor: string[] = [], maxSteps = Infinity): Promise<Run[]> {
  const runs: Run[] = [];
  for (const s of seqs) {
    await yieldToRunner();
    const greedy = greedyFor.includes(s.name);
    const cache = model.newCache(Math.max(model.config.max_context_length, s.input_ids.length + s.greedy.steps));
    const logits = model.forward(s.input_ids, cache, { allLogits: true }).slice();
    const V = model.config.vocab_size, T = s.input_ids.length;
    const out: number[] = [];
    if (greedy) {
      let last = logits.subarray((T - 1) * V, T * V);
      const steps = Math.min(s.greedy.steps, maxSteps);
      for (let step = 0; step < steps; step++) {
        out.push(argmax(last));
        if (step < steps - 1) last = model.forward([out[step]], cache);
      }
    }
    runs.push({ logits, greedy: out });
  }
  return runs;
}

interface Tol { logits_abs: number; logprob_abs: number; logsumexp_abs: number; perplexity_rel: number }

/** Compare a run with an expected.json-style sequence; returns [agreeing top-1 positions, positions]. */
function compare(s: Seq, r: Run, V: number, tol: Tol, exactArgmax: boolean): [number, number] {
  const T = s.input_ids.length;
  const row = (t: number) => r.logits.subarray(t * V, (t + 1) * V);
  s.logits_rows.positions.forEach((p, k) => {
    const got = row(p), want = s.logits_rows.values[k];
    let maxErr = 0;
    for (let j = 0; j < V; j++) maxErr = Math.max(maxErr, Math.abs(got[j] - want[j]));
    expect(maxErr, `${s.name} logits row ${p}`).toBeLessThan(tol.logits_abs);
  });
  let agree = 0;
  const lps: number[] = [];
  for (let t = 0; t < T; t++) {
    const x = row(t), lse = logsumexp(x);
    expect(Math.abs(lse - s.logsumexp[t]), `${s.name} logsumexp ${t}`).toBeLessThan(tol.logsumexp_abs);
    s.top5_ids[t].forEach((id, k) => expect(Math.abs(x[id] - s.top5_logits[t][k]), `${s.name} top5 ${t}`).toBeLessThan(tol.logits_abs));
    const am = argmax(x);
    if (am === s.argmax[t]) agree++;
    else if (exactArgmax) expect(s.argmax_ambiguous_positions, `${s.name} argmax ${t}: ${am} vs ${s.argmax[t]}`).toContain(t);
    if (t < T - 1) {
      const lp = x[s.input_ids[t + 1]] - lse;
      lps.push(lp);
      expect(Math.abs(lp - s.next_token_logprob[t]), `${s.name} logprob ${t}`).toBeLessThan(tol.logprob_abs);
    }
  }
  if (s.perplexity !== null) {
    const ppl = Math.exp(-lps.reduce((a, b) => a + b, 0) / lps.length);
    expect(Math.abs(ppl - s.perplexity) / s.perplexity, `${s.name} perplexity`).toBeLessThan(tol.perplexity_rel);
  }
  return [agree, T];
}

const loadGgufModel = (file: string) => {
  const ck = readGguf(file);
  return modelFromTensors(ck.config, ck.tensors, createRefBackend(), file);
};

const dequantExpected = readJson(FX + "dequant-expected.json");
const llamaExpected = readJson(FX + "llama-expected.json");
const runs = new Map<string, Promise<Run[]>>();
const GREEDY_SEQ = "text_openelm";
function runsFor(file: string): Promise<Run[]> {
  if (!runs.has(file)) {
    const seqs = dequantExpected.models[file]?.sequences ?? llamaExpected.models[file].sequences;
    runs.set(file, run(loadGgufModel(FX + file), seqs, [GREEDY_SEQ]));
  }
  return runs.get(file)!;
}

describe("llama.cpp GGUF files through our model", () => {
  for (const file of ["tiny-32k-q8_0.gguf", "tiny-32k-q4_0.gguf"]) {
    test(`${file}: logits, log-probs, perplexity, argmax and greedy equal the float64 reference on its dequantized weights`, async () => {
      const m = dequantExpected.models[file];
      const rs = await runsFor(file);
      m.sequences.forEach((s: Seq, i: number) => {
        compare(s, rs[i], 32000, m.tolerances, true);
        if (s.name === GREEDY_SEQ) expect(rs[i].greedy, `${s.name} greedy`).toEqual(s.greedy.tokens);
      });
    }, 120_000);

    test(`${file}: within llama-expected.json's tolerances of llama.cpp's own logits`, async () => {
      const m = llamaExpected.models[file];
      const rs = await runsFor(file);
      let agree = 0, n = 0;
      m.sequences.forEach((s: Seq, i: number) => {
        const [a, t] = compare(s, rs[i], 32000, m.tolerances, false);
        agree += a; n += t;
      });
      console.log(`${file} vs llama.cpp: top-1 agreement ${agree}/${n}`);
      expect(agree / n).toBeGreaterThanOrEqual(m.tolerances.top1_agree_min);
    }, 120_000);
  }

  test("our f16 GGUF (tensor bytes equal to llama.cpp's f16 file) is within llama-expected.json's f16 tolerances", async () => {
    const ck = readCheckpoint(TINY);
    const file = path.join(fs.mkdtempSync(path.join(TMP, "t-")), "tiny-32k-f16.gguf");
    writeGguf(file, ck.config, quantizeTensors(ck.tensors, "f16"), readTokenizerModelVocab());
    const m = llamaExpected.models["tiny-32k-f16.gguf"];
    // f16 rows are widened with a per-element conversion in the reference backend: 4 greedy steps keep it short.
    const rs = await run(loadGgufModel(file), m.sequences, [GREEDY_SEQ], 4);
    let agree = 0, n = 0;
    m.sequences.forEach((s: Seq, i: number) => {
      const [a, t] = compare(s, rs[i], 32000, m.tolerances, false);
      agree += a; n += t;
      if (s.name !== GREEDY_SEQ) return;
      // Greedy equal up to the first step whose top-1/top-2 gap is below 2 * logits_abs.
      const k = s.greedy.top1_minus_top2.findIndex((g) => g < 2 * m.tolerances.logits_abs);
      const upTo = Math.min(k < 0 ? s.greedy.steps : k, 4);
      expect(rs[i].greedy.slice(0, upTo), `${s.name} greedy`).toEqual(s.greedy.tokens.slice(0, upTo));
    });
    expect(agree / n).toBeGreaterThanOrEqual(m.tolerances.top1_agree_min);
  }, 120_000);
});

// The issue asks for q8_0 >= 97% and q4_0 >= 90% top-1 agreement with F32. On these random-weight fixtures
// (top-1/top-2 gaps of a few 1e-3) llama.cpp's quantization itself cannot reach that: the float64 reference on
// its dequantized weights agrees with the original weights at 141/154 (q8_0) and 58/154 (q4_0) positions
// (llama-expected.json measurements). So this pins our agreement and mean KL to those fixture measurements.
describe("quantized vs F32 (tiny-32k, every position of the fixture sequences)", () => {
  const ck = readCheckpoint(TINY);
  const seqs: Seq[] = readJson(`${TINY}/expected.json`).sequences;
  let f32Runs: Promise<Run[]> | undefined;
  for (const [type, file] of [["q8_0", "tiny-32k-q8_0.gguf"], ["q4_0", "tiny-32k-q4_0.gguf"]] as const) {
    test(`${type}: top-1 agreement and mean KL equal the fixture's measurement of llama.cpp's ${type} weights`, async () => {
      // quantizeTensors(F32, type) is byte-identical to the llama.cpp file (gguf_openelm.test.ts), so the
      // file's runs stand for our quantizer's.
      const q = await runsFor(file);
      const f32 = await (f32Runs ??= run(modelFromTensors(ck.config, ck.tensors, createRefBackend()), seqs));
      const V = ck.config.vocab_size;
      let agree = 0, n = 0, kl = 0;
      q.forEach((r, i) => {
        expect(dequantExpected.models[file].sequences[i].input_ids).toEqual(seqs[i].input_ids);
        const ref = f32[i].logits;
        for (let t = 0; t < seqs[i].input_ids.length; t++) {
          const p = ref.subarray(t * V, (t + 1) * V), x = r.logits.subarray(t * V, (t + 1) * V);
          if (argmax(p) === argmax(x)) agree++;
          const lp = logsumexp(p), lq = logsumexp(x);
          let k = 0;
          for (let j = 0; j < V; j++) k += Math.exp(p[j] - lp) * ((p[j] - lp) - (x[j] - lq));
          kl += k; n++;
        }
      });
      const want = llamaExpected.models[file].measurements.float64_dequantized_vs_float64_reference;
      console.log(`${type} vs F32: top-1 agreement ${agree}/${n} (${(100 * agree / n).toFixed(1)}%), mean KL(F32 || ${type}) ${(kl / n).toExponential(3)}; fixture: ${want.top1_agree}, ${want.mean_kl}`);
      expect(`${agree}/${n}`).toBe(want.top1_agree);
      expect(Math.abs(kl / n - want.mean_kl) / want.mean_kl).toBeLessThan(0.01);
    }, 120_000);
  }
});

describe("write -> read gives identical logits", () => {
  test("q4_0 tiny-32k: the model from the written GGUF equals the model from the in-memory tensors", () => {
    const ck = readCheckpoint(TINY);
    const tensors = quantizeTensors(ck.tensors, "q4_0");
    const file = path.join(fs.mkdtempSync(path.join(TMP, "t-")), "rt.gguf");
    writeGguf(file, ck.config, tensors, readTokenizerModelVocab());
    const ids = [1, 450, 4996, 17354, 1701, 29916, 432, 17204, 975];
    const a = modelFromTensors(ck.config, tensors, createRefBackend());
    const b = loadGgufModel(file);
    const la = a.forward(ids, a.newCache(), { allLogits: true }).slice();
    const lb = b.forward(ids, b.newCache(), { allLogits: true }).slice();
    expect(Buffer.compare(Buffer.from(la.buffer), Buffer.from(lb.buffer))).toBe(0);
  }, 60_000);
});
