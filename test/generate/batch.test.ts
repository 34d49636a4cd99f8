// Continuous batching against single-sequence runs: batched logits equal unbatched ones for every sequence
// of a mixed batch (different lengths and positions, one joining mid-way, one spanning two micro-batches),
// and the scheduler's greedy outputs equal generate()'s, with chunked prefill and the prefix cache on.
import { describe, expect, test } from "vitest";
import * as fs from "node:fs";
import { loadModelDir } from "../../src/models/load.js";
import type { OpenELMModel } from "../../src/models/openelm.js";
import { generate } from "../../src/generate/generate.js";
import { BatchScheduler, type BatchCompletion } from "../../src/generate/batch.js";
import { checkpointTokenizer } from "../../src/tokenizer/sentencepiece.js";
import { BACKENDS } from "../backends.js";
import { createWasmBackend } from "../../src/kernels/wasm/index.js";
import { readCheckpoint } from "../../src/io/model_dir.js";
import { quantizeTensors } from "../../src/io/gguf_quantize.js";
import { modelFromTensors } from "../../src/models/load.js";
import { yieldToRunner } from "../yield.js";

const TINY = new URL("../fixtures/openelm/tiny-32k", import.meta.url).pathname; // F32 weights
const seqs: { name: string; input_ids: number[] }[] = JSON.parse(fs.readFileSync(`${TINY}/expected.json`, "utf-8")).sequences;
const ids = (name: string) => seqs.find((s) => s.name === name)!.input_ids;

/** Logits of `prompt` then each of `next`, one sequence alone: rows of V. */
async function single(model: OpenELMModel, prompt: number[], next: number[], allLogits = false): Promise<Float32Array[]> {
  const cache = model.newCache();
  const rows = [(await model.forwardAsync(prompt, cache, { allLogits })).slice()];
  for (const t of next) { await yieldToRunner(); rows.push((await model.forwardAsync([t], cache)).slice()); }
  return rows;
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

for (const be of BACKENDS) {
  describe(`batched forward [${be.name}]`, () => {
    test("every sequence of a mixed batch gets its unbatched logits within 1e-5", async () => {
      const { model } = loadModelDir(TINY, { backend: await be.create() });
      const a = ids("text_openelm"), b = ids("len33");
      const c = [...ids("len100_repeat"), ...ids("len33"), ...ids("len7")].slice(0, 140); // > MICRO_BATCH: two micro-batches
      const decodeA = [450, 4996, 29871], decodeB = [13, 2], decodeC = [1000];
      const refA = await single(model, a, decodeA, true), refB = await single(model, b, decodeB), refC = await single(model, c, decodeC);
      const ca = model.newCache(), cb = model.newCache(), cc = model.newCache();
      const diffs: number[] = [];
      // step 1: A's whole prompt (every row) and B's first 20 prompt tokens (no logits)
      let out = await model.forwardBatchAsync([{ ids: a, cache: ca, logits: "all" }, { ids: b.slice(0, 20), cache: cb, logits: "none" }]);
      diffs.push(maxDiff(out[0], refA[0]));
      expect(out[1].length).toBe(0);
      await yieldToRunner(); // the ref backend is slow: let the runner hear from us between steps
      // step 2: A decodes, B finishes its prompt, C joins with its whole 140-token prompt
      out = await model.forwardBatchAsync([{ ids: [decodeA[0]], cache: ca, logits: "last" }, { ids: b.slice(20), cache: cb, logits: "last" },
        { ids: c, cache: cc, logits: "last" }]);
      diffs.push(maxDiff(out[0], refA[1]), maxDiff(out[1], refB[0]), maxDiff(out[2], refC[0]));
      await yieldToRunner();
      // steps 3-4: all three decode at different positions (C leaves after one)
      out = await model.forwardBatchAsync([{ ids: [decodeC[0]], cache: cc, logits: "last" }, { ids: [decodeA[1]], cache: ca, logits: "last" },
        { ids: [decodeB[0]], cache: cb, logits: "last" }]);
      diffs.push(maxDiff(out[0], refC[1]), maxDiff(out[1], refA[2]), maxDiff(out[2], refB[1]));
      out = await model.forwardBatchAsync([{ ids: [decodeA[2]], cache: ca, logits: "last" }, { ids: [decodeB[1]], cache: cb, logits: "last" }]);
      diffs.push(maxDiff(out[0], refA[3]), maxDiff(out[1], refB[2]));
      expect(Math.max(...diffs)).toBeLessThan(1e-5);
      expect([ca.length, cb.length, cc.length]).toEqual([a.length + 3, b.length + 2, c.length + 1]);
      expect(ca.tokens).toEqual([...a, ...decodeA]);
    });
  });
}

// Decode steps of 4 … 16 sequences run through the small-batch matvecs (kernels/wasm MATVEC_ROWS), whose
// quantized rows are bitwise the decode matvec's: a batched sequence gets exactly its unbatched logits.
describe("batched decode through the small-batch matvecs [wasm]", () => {
  for (const dtype of ["f32", "q8_0", "q4_0"] as const) {
    test(`${dtype}: 6 sequences decoding, one joining with a short prompt: ${dtype === "f32" ? "within 1e-5" : "bitwise"} their unbatched logits`, async () => {
      const be = await createWasmBackend({ threads: 2 });
      try {
        const ck = readCheckpoint(TINY);
        const model = modelFromTensors(ck.config, dtype === "f32" ? ck.tensors : quantizeTensors(ck.tensors, dtype), be);
        const long = ids("len100_repeat");
        const prompts = [ids("len7"), ids("len33"), ids("text_openelm"), long.slice(0, 12), long.slice(40, 45), long.slice(60, 90)];
        const late = long.slice(7, 10); // joins at step 2: 6 decode rows + 3 prompt rows in one step
        const next = (i: number, s: number) => 100 + 37 * i + 11 * s;
        const refs: Float32Array[][] = [];
        for (let i = 0; i < prompts.length; i++) refs.push(await single(model, prompts[i], [0, 1, 2].map((s) => next(i, s))));
        const refLate = await single(model, late, [next(6, 0), next(6, 1)]);
        const caches = prompts.map(() => model.newCache()), cLate = model.newCache();
        const got: Float32Array[][] = prompts.map(() => []), gotLate: Float32Array[] = [];
        let out = await model.forwardBatchAsync(prompts.map((p, i) => ({ ids: p, cache: caches[i], logits: "last" as const })));
        out.forEach((o, i) => got[i].push(o.slice()));
        for (let s = 0; s < 3; s++) {
          await yieldToRunner();
          const entries = prompts.map((_, i) => ({ ids: [next(i, s)], cache: caches[i], logits: "last" as const }));
          if (s === 1) entries.push({ ids: late, cache: cLate, logits: "last" as const });
          if (s === 2) entries.push({ ids: [next(6, 0)], cache: cLate, logits: "last" as const }); // 7 decode rows
          out = await model.forwardBatchAsync(entries);
          out.slice(0, 6).forEach((o, i) => got[i].push(o.slice()));
          if (s >= 1) gotLate.push(out[6].slice());
        }
        const pairs: [Float32Array, Float32Array][] = [];
        refs.forEach((r, i) => r.forEach((row, s) => pairs.push([got[i][s], row])));
        gotLate.forEach((row, s) => pairs.push([row, refLate[s]]));
        if (dtype === "f32") expect(Math.max(...pairs.map(([a, b]) => maxDiff(a, b)))).toBeLessThan(1e-5);
        else for (const [a, b] of pairs) expect(maxDiff(a, b)).toBe(0);
        // and so the greedy tokens
        const argmax = (v: Float32Array) => v.reduce((m, x, i) => (x > v[m] ? i : m), 0);
        expect(pairs.map(([a]) => argmax(a))).toEqual(pairs.map(([, b]) => argmax(b)));
      } finally { be.dispose?.(); }
    });
  }
});

describe("batch scheduler [wasm]", () => {
  test("greedy outputs equal single-request generation; chunked prefill, a waiting request joining mid-way, the prefix cache", async () => {
    const be = BACKENDS.find((b) => b.name === "wasm")!;
    const { model, tokenizerModel } = loadModelDir(TINY, { backend: await be.create() });
    const tok = await checkpointTokenizer(TINY, tokenizerModel);
    const prompts = [ids("text_openelm"), ids("len33"), ids("len100_repeat"), ids("len7"), [...ids("len33").slice(0, 32), ...ids("len7").slice(1)]];
    const maxNew = [12, 20, 6, 16, 10];
    const expected: number[][] = [];
    for (let i = 0; i < prompts.length; i++) {
      const it = generate(model, tok, prompts[i], { maxNewTokens: maxNew[i], ignoreEos: true });
      let r = await it.next();
      while (!r.done) r = await it.next();
      expected.push(r.value.tokens);
    }
    // 3 slots, 16-token steps: the 100-token prompt is prefilled in chunks while the others decode; the
    // 4th and 5th requests wait and join when slots free up; the 5th shares 32 tokens with the 2nd.
    const s = new BatchScheduler(model, tok, { parallel: 3, prefillChunk: 16 });
    const batchSizes: number[] = [];
    const results = await Promise.all(prompts.map((p, i) => new Promise<BatchCompletion & { streamed: number[] }>((resolve, reject) => {
      const streamed: number[] = [];
      s.submit(i, p, { maxNewTokens: maxNew[i], ignoreEos: true }, {
        started: () => {},
        delta: (_t, tokens) => { streamed.push(...tokens); batchSizes.push(s.stats().batchSize); },
        done: (c) => resolve({ ...c, streamed }),
        error: reject,
      });
    })));
    expect(results.map((r) => r.tokens)).toEqual(expected);
    expect(results.map((r) => r.streamed)).toEqual(expected);
    expect(results.map((r) => r.finishReason)).toEqual(Array(5).fill("length"));
    expect(Math.max(...batchSizes)).toBe(3);
    expect(results[4].cachedPromptTokens).toBe(32); // two whole 16-token blocks of the 2nd request's prompt
    expect(results.slice(0, 4).map((r) => r.cachedPromptTokens)).toEqual([0, 0, 0, 0]);
    const st = s.stats();
    expect(st).toMatchObject({ running: 0, waiting: 0, cachedPromptTokens: 32, generatedTokens: maxNew.reduce((x, y) => x + y) });
    expect(st.kvBytesInUse).toBe(0);
    expect(st.kvBytesCached).toBeGreaterThan(0);
  });

  test("abort, a full queue, and a prompt longer than a slot's context", async () => {
    const { model, tokenizerModel } = loadModelDir(TINY, { backend: await BACKENDS.find((b) => b.name === "wasm")!.create() });
    const tok = await checkpointTokenizer(TINY, tokenizerModel);
    const bpp = model.sizes.reduce((a, z) => a + 2 * z.nKV * model.config.head_dim * 4, 0);
    const s = new BatchScheduler(model, tok, { parallel: 1, maxQueue: 1, kvBudgetBytes: 64 * bpp });
    expect(s.slotContext).toBe(64);
    const events: string[] = [];
    const sink = (name: string, onDelta = () => {}) => ({ started: () => events.push(`${name} started`), delta: onDelta,
      done: (c: BatchCompletion) => events.push(`${name} ${c.finishReason} ${c.completionTokens}`), error: (e: unknown) => events.push(`${name} error ${(e as { code: string }).code}`) });
    s.submit(1, ids("len7"), { maxNewTokens: 40, ignoreEos: true }, sink("a", () => s.abort(1))); // aborted at its first token
    s.submit(2, ids("len7"), { maxNewTokens: 2, ignoreEos: true }, sink("b"));
    s.submit(3, ids("len7"), { maxNewTokens: 2 }, sink("c")); // one waits (b): the line is full
    s.submit(4, ids("len100_repeat"), { maxNewTokens: 2 }, sink("d"));
    while (!events.some((e) => e.startsWith("b length"))) await new Promise((r) => setTimeout(r, 10));
    // the abort lands before the next step: a generated exactly one token
    expect(events).toEqual(["c error server_busy", "d error context_length_exceeded", "a started", "a abort 1", "b started", "b length 2"]);
  });
});
