// Rolling-window perplexity against lm-eval's loglikelihood_rolling: window shapes (EOS prefix, BOS in the token
// list, one token of context, the last window topped up to a full input), and word/byte perplexity and
// bits_per_byte within 1e-4 relative (on the reference backend only the first window is scored).
import { beforeAll, describe, expect, test } from "vitest";
import { LoglikScorer } from "../../src/eval/loglik.js";
import { perplexity, rollingWindows } from "../../src/eval/perplexity.js";
import { modelInput } from "../../src/eval/requests.js";
import type { OpenELMModel } from "../../src/models/openelm.js";
import { expected, testModel, tokenizer } from "./fixture.js";

const ref = expected.perplexity;
let model: OpenELMModel;
beforeAll(async () => { model = await testModel(); }, 60_000);

describe("perplexity (lm-eval rolling windows)", () => {
  for (const conv of ["lm_eval_dc90fec", "bos_prefix"] as const) {
    test(`${conv}: window shapes`, () => {
      const e = ref[conv];
      const tokens = tokenizer.encode(ref.text, { bos: e.add_bos_token });
      expect(tokens.length).toBe(e.token_list_len);
      const ws = rollingWindows(tokens, e.prefix_token, ref.max_length);
      expect(ws.map((w) => ({ context_len: w.contextIds.length, predicted_len: w.predictedIds.length,
        input_len: modelInput(w.contextIds, w.predictedIds, ref.max_length).input.length })))
        .toEqual(e.windows.map((w: any) => ({ context_len: w.context_len, predicted_len: w.predicted_len, input_len: w.input_len })));
      expect(ws.flatMap((w) => w.predictedIds)).toEqual(tokens);
    });
  }

  test("short texts: one window, [EOS] + tokens[:-1] predicting every token", () => {
    expect(rollingWindows([1, 5, 6], 2, 8)).toEqual([{ contextIds: [2], predictedIds: [1, 5, 6] }]);
    expect(rollingWindows([], 2, 8)).toEqual([]);
  });

  test("word_perplexity, byte_perplexity, bits_per_byte within 1e-4 relative", () => {
    const e = ref.lm_eval_dc90fec;
    if (model.backend.name === "ref") {
      const tokens = tokenizer.encode(ref.text, { bos: true });
      const w = rollingWindows(tokens, 2, ref.max_length)[0];
      const r = new LoglikScorer(model, ref.max_length).score(w.contextIds, w.predictedIds);
      expect(Math.abs(r.loglikelihood / e.windows[0].loglikelihood - 1)).toBeLessThan(tol());
      return;
    }
    const r = perplexity(model, tokenizer, ref.text, { maxLength: ref.max_length });
    expect(r.tokens).toBe(e.token_list_len);
    expect(r.words).toBe(e.words);
    expect(r.bytes).toBe(e.bytes);
    r.windows.forEach((w, i) => expect(Math.abs(w.loglikelihood - e.windows[i].loglikelihood)).toBeLessThan(expected.tolerances.loglikelihood_abs * 10));
    for (const k of ["word_perplexity", "byte_perplexity", "bits_per_byte", "token_perplexity"] as const)
      expect(Math.abs(r[k] / e[k] - 1)).toBeLessThan(tol());
  }, 120_000);
});

function tol(): number {
  return expected.tolerances.perplexity_rel;
}
