// The forward pass against the float64 reference fixtures (test/fixtures/openelm, from ../shared), on every
// backend (forwardAsync: a device backend reads the logits back).
// tiny-small-vocab's 150-token sequence runs in two micro-batches (MICRO_BATCH 128), so the slicing is checked too;
// on the reference backend the prompts go in chunks of 16, so chunked prefill through the cache is checked as well.
import { describe, expect, test } from "vitest";
import { yieldToRunner } from "../yield.js";
import * as fs from "node:fs";
import { loadModelDir } from "../../src/models/load.js";
import { BACKENDS } from "../backends.js";

const FIXTURES = ["tiny-32k", "tiny-32k-bf16", "tiny-small-vocab"];
const dirOf = (f: string) => new URL(`../fixtures/openelm/${f}`, import.meta.url).pathname;

interface Seq {
  name: string; input_ids: number[]; argmax: number[]; argmax_ambiguous_positions: number[];
  top5_ids: number[][]; top5_logits: number[][]; logsumexp: number[]; next_token_logprob: number[];
  perplexity: number | null; logits_rows: { positions: number[]; values: number[][] };
  greedy: { steps: number; tokens: number[] };
}

function logsumexp(row: Float32Array): number {
  let m = -Infinity;
  for (const v of row) m = Math.max(m, v);
  let s = 0;
  for (const v of row) s += Math.exp(v - m);
  return m + Math.log(s);
}

for (const be of BACKENDS) {
  describe(`OpenELM forward [${be.name}]`, () => {
    for (const fx of FIXTURES.filter((f) => !be.skipFixtures?.includes(f))) {
      test(`${fx}: logits, log-probs, perplexity and greedy continuations match the reference`, async () => {
        const backend = await be.create();
        const { model } = loadModelDir(dirOf(fx), { backend });
        const expected = JSON.parse(fs.readFileSync(`${dirOf(fx)}/expected.json`, "utf-8"));
        const tol = expected.tolerances;
        const V = model.config.vocab_size;
        for (const s of expected.sequences as Seq[]) {
          await yieldToRunner();
          // Some sequences run past max_context_length: the reference computes them anyway (RoPE has no
          // limit), so the cache is sized explicitly, as a user opting into a longer context would.
          const cache = model.newCache(Math.max(model.config.max_context_length, s.input_ids.length + s.greedy.steps));
          // The reference backend computes synchronously (float64 sums): its prefill goes in chunks through the
          // cache, yielding between them, so that no block keeps the test runner waiting (see test/yield.ts).
          const T = s.input_ids.length, chunk = be.name === "ref" ? 16 : T;
          const logits = new Float32Array(T * V);
          for (let t0 = 0; t0 < T; t0 += chunk) {
            await yieldToRunner();
            logits.set(await model.forwardAsync(s.input_ids.slice(t0, t0 + chunk), cache, { allLogits: true }), t0 * V);
          }
          const row = (t: number) => logits.subarray(t * V, (t + 1) * V);
          s.logits_rows.positions.forEach((p, k) => {
            const r = row(p), e = s.logits_rows.values[k];
            let maxErr = 0;
            for (let j = 0; j < V; j++) maxErr = Math.max(maxErr, Math.abs(r[j] - e[j]));
            expect(maxErr, `${s.name} logits row ${p}`).toBeLessThan(tol.logits_abs);
          });
          const lps: number[] = [];
          for (let t = 0; t < T; t++) {
            const r = row(t), lse = logsumexp(r);
            expect(Math.abs(lse - s.logsumexp[t]), `${s.name} logsumexp ${t}`).toBeLessThan(tol.logsumexp_abs);
            s.top5_ids[t].forEach((id, k) => expect(Math.abs(r[id] - s.top5_logits[t][k])).toBeLessThan(tol.logits_abs));
            let am = 0;
            for (let j = 1; j < V; j++) if (r[j] > r[am]) am = j;
            if (!s.argmax_ambiguous_positions.includes(t)) expect(am, `${s.name} argmax ${t}`).toBe(s.argmax[t]);
            if (t < T - 1) {
              const lp = r[s.input_ids[t + 1]] - lse;
              lps.push(lp);
              expect(Math.abs(lp - s.next_token_logprob[t]), `${s.name} logprob ${t}`).toBeLessThan(tol.logprob_abs);
            }
          }
          if (s.perplexity !== null) {
            const ppl = Math.exp(-lps.reduce((a, b) => a + b, 0) / lps.length);
            expect(Math.abs(ppl - s.perplexity) / s.perplexity).toBeLessThan(tol.perplexity_rel);
          }
          // Greedy through the KV cache: prefill above, then one token a step.
          let last = row(T - 1);
          const got: number[] = [];
          for (let step = 0; step < s.greedy.steps; step++) {
            let am = 0;
            for (let j = 1; j < V; j++) if (last[j] > last[am]) am = j;
            got.push(am);
            if (step < s.greedy.steps - 1) { await yieldToRunner(); last = await model.forwardAsync([am], cache); }
          }
          expect(got, `${s.name} greedy`).toEqual(s.greedy.tokens);
        }
        backend.dispose?.();
      }, 300_000); // webgpu on SwiftShader (CPU) under load takes minutes
    }
  });
}

describe("micro-batches", () => {
  test("a backend's microBatch sets the rows a step; the logits are the same as in one step", async () => {
    const { createRefBackend } = await import("../../src/kernels/ref/index.js");
    const plain = createRefBackend();
    const seen: number[] = [];
    const small = { ...plain, microBatch: 3, matmul: (o: Float32Array, x: Float32Array, w: Parameters<typeof plain.matmul>[2], T: number) => { seen.push(T); plain.matmul(o, x, w, T); } };
    const a = loadModelDir(dirOf("tiny-small-vocab"), { backend: plain }).model;
    const b = loadModelDir(dirOf("tiny-small-vocab"), { backend: small }).model;
    const ids = [1, 5, 9, 200, 17, 3, 42, 8];
    const want = a.forward(ids, a.newCache(16), { allLogits: true }).slice();
    const got = b.forward(ids, b.newCache(16), { allLogits: true });
    expect(Math.max(...seen)).toBe(3);
    expect(seen.filter((t) => t === 2).length).toBeGreaterThan(0); // 8 = 3 + 3 + 2
    expect(Array.from(got)).toEqual(Array.from(want));
  });
});
