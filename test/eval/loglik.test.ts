// The model scored through our harness against lm-eval's numbers: log-likelihoods within 1e-3, is_greedy and
// per-document metrics identical, aggregates within 1e-6 of the reference, and the prefix sharing actually
// saving forward tokens. With the WASM kernels every request runs (a few seconds); on the reference backend
// only the first document of each variant does (the loops are ~30x slower).
import { beforeAll, describe, expect, test } from "vitest";
import { aggregateTask, docMetrics, type ScoredDoc } from "../../src/eval/evaluate.js";
import { LoglikScorer } from "../../src/eval/loglik.js";
import type { OpenELMModel } from "../../src/models/openelm.js";
import { expected, MAX_LENGTH, prepareVariant, testModel, variants } from "./fixture.js";

let model: OpenELMModel;
let full = false;
beforeAll(async () => {
  model = await testModel();
  full = model.backend.name !== "ref";
}, 60_000);

const tol = expected.tolerances;
const margin = 2 * tol.loglikelihood_abs; // decisions may differ only where the reference margin is this small

describe("log-likelihoods and metrics match lm-eval on tiny-32k", () => {
  for (const v of variants) {
    test(`${v.task} ${v.variant}`, () => {
      const p = prepareVariant(v);
      const scorer = new LoglikScorer(model, MAX_LENGTH);
      const n = full ? p.docs.length : 1;
      const scored: ScoredDoc[] = [];
      for (let i = 0; i < n; i++) {
        const d = p.docs[i], e = v.docs[i];
        const results = d.requests.map((r) => scorer.score(r.contextIds, r.continuationIds));
        results.forEach((r, j) => {
          const er = e.requests[j];
          expect(Math.abs(r.loglikelihood - er.loglikelihood)).toBeLessThan(tol.loglikelihood_abs);
          if (Math.abs(er.greedy_gap) >= margin) expect(r.isGreedy).toBe(er.is_greedy);
          r.tokenLogprobs.forEach((lp, t) => expect(Math.abs(lp - er.token_logprobs[t])).toBeLessThan(tol.token_logprob_abs));
          expect(r.inputLen).toBe(er.input_len);
          expect(r.truncated).toBe(er.truncated);
        });
        const m = docMetrics(p.task, d, results);
        if (e.ll_margin >= margin && e.acc !== undefined) expect(m.metrics.acc).toBe(e.acc);
        if ((e.ll_norm_margin ?? 1) >= margin && e.acc_norm !== undefined) expect(m.metrics.acc_norm).toBe(e.acc_norm);
        if (e.mc2 !== undefined) expect(Math.abs(m.metrics.mc2! - e.mc2)).toBeLessThan(tol.mc2_abs);
        scored.push({ ...d, results, ...m });
      }
      if (full) {
        const agg = aggregateTask(p.task, scored);
        for (const k of v.metrics) if (k !== "mc2") expect(Math.abs(agg.metrics[k as "acc"]! - v.aggregate[k])).toBeLessThan(1e-6);
        // Choices share their context: only the continuations (plus truncation-shifted inputs) run again.
        expect(scorer.stats.forwardTokens).toBeLessThan(scorer.stats.inputTokens);
      }
    }, 120_000);
  }

  test("greedy probes (is_greedy true, one truncated) and encode_pair cases", () => {
    const scorer = new LoglikScorer(model, MAX_LENGTH);
    for (const g of expected.greedy_probes) {
      const r = scorer.score(g.context_ids, g.continuation_ids);
      expect(Math.abs(r.loglikelihood - g.loglikelihood)).toBeLessThan(tol.loglikelihood_abs);
      expect(r.isGreedy).toBe(g.is_greedy);
      expect(r.inputLen).toBe(g.input_len);
      expect(r.truncated).toBe(g.truncated);
    }
    for (const c of expected.encode_pair_cases) {
      const r = scorer.score(c.context_ids, c.continuation_ids);
      expect(Math.abs(r.loglikelihood - c.loglikelihood)).toBeLessThan(tol.loglikelihood_abs);
      expect(r.isGreedy).toBe(c.is_greedy);
    }
  }, 120_000);

  test("prefix reuse gives the same numbers as fresh caches", () => {
    const v = variants.find((x) => x.task === "arc_easy")!;
    const d = prepareVariant(v).docs[0];
    const shared = new LoglikScorer(model, MAX_LENGTH);
    const a = d.requests.map((r) => shared.score(r.contextIds, r.continuationIds).loglikelihood);
    const b = d.requests.map((r) => new LoglikScorer(model, MAX_LENGTH).score(r.contextIds, r.continuationIds).loglikelihood);
    a.forEach((x, i) => expect(Math.abs(x - b[i])).toBeLessThan(1e-4));
    // 4 choices × (23 context + continuation) inputs; the 22 shared context positions run once.
    expect(shared.stats.inputTokens - shared.stats.forwardTokens).toBe(3 * (d.requests[0].contextIds.length - 1));
  }, 60_000);
});
