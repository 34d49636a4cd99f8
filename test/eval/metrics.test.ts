// Metrics from the reference's own log-likelihoods: per-document acc / acc_norm (code-point lengths, first
// maximum) / TruthfulQA-MC2, task means and stderr, and lm-eval's group pooling.
import { describe, expect, test } from "vitest";
import { aggregateTask, docMetrics, type ScoredDoc } from "../../src/eval/evaluate.js";
import type { LoglikResult } from "../../src/eval/loglik.js";
import { aggregateSubtaskMetrics, argmax, meanStderr, pooledSampleStderr } from "../../src/eval/metrics.js";
import { prepareVariant, variants } from "./fixture.js";

const fromReference = (er: any): LoglikResult =>
  ({ loglikelihood: er.loglikelihood, isGreedy: er.is_greedy, tokenLogprobs: er.token_logprobs, inputLen: er.input_len, truncated: er.truncated });

describe("metrics from the reference log-likelihoods", () => {
  for (const v of variants) {
    test(`${v.task} ${v.variant}: per-document metrics and aggregate`, () => {
      const p = prepareVariant(v);
      const scored: ScoredDoc[] = p.docs.map((d, i) => {
        const results = v.docs[i].requests.map(fromReference);
        return { ...d, results, ...docMetrics(p.task, d, results) };
      });
      scored.forEach((d, i) => {
        const e = v.docs[i];
        if (e.pred !== undefined) expect(d.pred).toBe(e.pred);
        if (e.pred_norm !== undefined) expect(d.predNorm).toBe(e.pred_norm);
        if (e.acc !== undefined) expect(d.metrics.acc).toBe(e.acc);
        if (e.acc_norm !== undefined) expect(d.metrics.acc_norm).toBe(e.acc_norm);
        if (e.mc2 !== undefined) expect(Math.abs(d.metrics.mc2! - e.mc2)).toBeLessThan(1e-6 * Math.max(1, e.mc2));
      });
      const agg = aggregateTask(p.task, scored);
      expect(agg.samples).toBe(v.aggregate.n);
      for (const m of v.metrics) {
        expect(Math.abs(agg.metrics[m as "acc"]! - v.aggregate[m])).toBeLessThan(1e-6);
        const se = v.aggregate[`${m}_stderr`];
        if (se === undefined) expect(agg.stderr[m as "acc"]).toBeNull(); // n = 1: lm-eval prints N/A
        else expect(Math.abs(agg.stderr[m as "acc"]! - se)).toBeLessThan(1e-6);
      }
    });
  }

  test("argmax takes the first maximum (np.argmax)", () => {
    expect(argmax([-1, -0.5, -0.5, -2])).toBe(1);
  });
  test("mean_stderr: sample stdev over sqrt n; N/A for one item", () => {
    expect(meanStderr([1, 0, 0, 1])).toBeCloseTo(Math.sqrt(1 / 3) / 2, 15);
    expect(meanStderr([1])).toBeNull();
  });
  test("group pooling as lm-eval evaluator.py (values from numpy)", () => {
    expect(aggregateSubtaskMetrics([0.5, 0.25], [10, 20])).toBe(0.3333333333333333);
    expect(pooledSampleStderr([0.1, 0.2], [10, 20])).toBeCloseTo(0.13844373104863458, 15);
  });
});
