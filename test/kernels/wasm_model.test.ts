// The wasm backend runs the whole OpenELM forward on the reference fixtures (test/fixtures/openelm, from
// ../shared/fixtures/openelm): logits within the fixture tolerance (1e-4) and greedy continuations exact,
// for F32 and BF16 weights, threads 1 and 2, plain and relaxed SIMD.

import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as fs from "node:fs";
import type { Backend } from "../../src/kernels/backend.js";
import { loadModelDir } from "../../src/models/load.js";
import { WASM_CONFIGS, createAll } from "./wasm_cases.js";

const dirOf = (f: string) => new URL(`../fixtures/openelm/${f}`, import.meta.url).pathname;

interface Seq { name: string; input_ids: number[]; logits_rows: { positions: number[]; values: number[][] };
  greedy: { steps: number; tokens: number[] } }

let backends: Backend[] = [];
beforeAll(async () => { backends = await createAll(); });
afterAll(() => { for (const b of backends) b.dispose?.(); });

describe("wasm backend on the OpenELM fixtures", () => {
  for (const fx of ["tiny-32k", "tiny-32k-bf16", "tiny-small-vocab"]) {
    test(`${fx}: logits within tolerance, greedy identical`, () => {
      const expected = JSON.parse(fs.readFileSync(`${dirOf(fx)}/expected.json`, "utf-8"));
      const tol: number = expected.tolerances.logits_abs;
      backends.forEach((backend, b) => {
        const label = WASM_CONFIGS[b].label;
        const { model } = loadModelDir(dirOf(fx), { backend });
        const V = model.config.vocab_size;
        for (const s of expected.sequences as Seq[]) {
          const cache = model.newCache(Math.max(model.config.max_context_length, s.input_ids.length + s.greedy.steps));
          const logits = model.forward(s.input_ids, cache, { allLogits: true }).slice();
          s.logits_rows.positions.forEach((p, k) => {
            let maxErr = 0;
            for (let j = 0; j < V; j++) maxErr = Math.max(maxErr, Math.abs(logits[p * V + j] - s.logits_rows.values[k][j]));
            expect(maxErr, `${label} ${s.name} logits row ${p}`).toBeLessThan(tol);
          });
          let last = logits.subarray((s.input_ids.length - 1) * V, s.input_ids.length * V);
          const got: number[] = [];
          for (let step = 0; step < s.greedy.steps; step++) {
            let am = 0;
            for (let j = 1; j < V; j++) if (last[j] > last[am]) am = j;
            got.push(am);
            if (step < s.greedy.steps - 1) last = model.forward([am], cache);
          }
          expect(got, `${label} ${s.name} greedy`).toEqual(s.greedy.tokens);
        }
      });
    }, 120_000);
  }
});
