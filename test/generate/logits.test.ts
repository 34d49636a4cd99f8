// Logits processors and sampling, on hand-checked values (HF transformers semantics).
import { describe, expect, test } from "vitest";
import { applyMinP, applyRepetitionPenalty, applyTemperature, applyTopK, applyTopP } from "../../src/generate/logits.js";
import { argmax, Rng, sample } from "../../src/generate/sampler.js";
import { StopMatcher } from "../../src/generate/stop.js";
import { lookupCandidates } from "../../src/generate/prompt_lookup.js";

const f = (a: number[]) => Float32Array.from(a);
const kept = (x: Float32Array) => Array.from(x).map((v, i) => (v === -Infinity ? -1 : i)).filter((i) => i >= 0);

describe("logits processors", () => {
  test("repetition penalty divides positive and multiplies negative scores of seen tokens, once each", () => {
    const x = f([2, -2, 1, 3]);
    applyRepetitionPenalty(x, [0, 1, 1, 0], 2);
    expect(Array.from(x)).toEqual([1, -4, 1, 3]);
  });
  test("temperature divides", () => {
    const x = f([2, -4]);
    applyTemperature(x, 2);
    expect(Array.from(x)).toEqual([1, -2]);
  });
  test("top-k keeps the k best and ties with the k-th", () => {
    const x = f([1, 5, 3, 3, 0]);
    applyTopK(x, 2);
    expect(kept(x)).toEqual([1, 2, 3]);
  });
  test("top-p keeps the smallest head whose mass reaches p (HF: drop cumulative ≤ 1-p from the tail)", () => {
    // probs ∝ e^[ln .5, ln .3, ln .15, ln .05] = [.5, .3, .15, .05]
    const x = f([Math.log(0.5), Math.log(0.3), Math.log(0.15), Math.log(0.05)]);
    const a = x.slice(); applyTopP(a, 0.8); expect(kept(a)).toEqual([0, 1]);        // .05+.15 = .2 ≤ .2 dropped
    const b = x.slice(); applyTopP(b, 0.81); expect(kept(b)).toEqual([0, 1, 2]);
    const c = x.slice(); applyTopP(c, 0.01); expect(kept(c)).toEqual([0]);         // at least one token
  });
  test("min-p drops tokens below min_p × the top probability", () => {
    const x = f([Math.log(0.5), Math.log(0.3), Math.log(0.15), Math.log(0.05)]);
    applyMinP(x, 0.2); // threshold .1
    expect(kept(x)).toEqual([0, 1, 2]);
  });
});

describe("sampling", () => {
  test("argmax takes the first maximum", () => expect(argmax(f([1, 3, 3, 2]))).toBe(1));
  test("a seeded draw is reproducible and follows the distribution", () => {
    const logits = f([Math.log(0.7), Math.log(0.2), Math.log(0.1), -Infinity]);
    const draw = (seed: number, n: number) => { const r = new Rng(seed); return Array.from({ length: n }, () => sample(logits, r)); };
    expect(draw(42, 50)).toEqual(draw(42, 50));
    const counts = [0, 0, 0, 0];
    for (const i of draw(1, 20000)) counts[i]++;
    expect(counts[3]).toBe(0);
    expect(Math.abs(counts[0] / 20000 - 0.7)).toBeLessThan(0.02);
    expect(Math.abs(counts[2] / 20000 - 0.1)).toBeLessThan(0.02);
  });
});

describe("stop strings", () => {
  test("held back while undecided, cut at the stop string even across pieces", () => {
    const m = new StopMatcher(["\nUser:", "###"]);
    expect(m.push("Hello")).toEqual({ emit: "Hello", stopped: false });
    expect(m.push(" there\nUs")).toEqual({ emit: " there", stopped: false });
    expect(m.push("er: hi")).toEqual({ emit: "", stopped: true });
    const n = new StopMatcher(["###"]);
    expect(n.push("a#")).toEqual({ emit: "a", stopped: false });
    expect(n.push("b")).toEqual({ emit: "#b", stopped: false });
    expect(n.flush()).toBe("");
  });
});

describe("prompt lookup candidates", () => {
  test("the tokens after the first earlier match of the last bigram, then unigram", () => {
    expect(lookupCandidates([5, 6, 7, 8, 9, 5, 6], 3)).toEqual([7, 8, 9]);
    expect(lookupCandidates([5, 6, 7, 8, 9, 4, 6], 2)).toEqual([7, 8]);
    expect(lookupCandidates([1, 2, 3], 4)).toEqual([]);
  });
});

/** HF's TopPLogitsWarper spelled out: sort every index ascending (stable), softmax, cumsum, drop ≤ 1 - p. */
function topPReference(logits: Float32Array, p: number): void {
  const order = Array.from({ length: logits.length }, (_, i) => i).sort((a, b) => logits[a] - logits[b]);
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  const e = order.map((i) => Math.exp(logits[i] - max));
  const sum = e.reduce((a, b) => a + b, 0);
  let cum = 0;
  for (let j = 0; j < order.length - 1; j++) { cum += e[j] / sum; if (cum <= 1 - p) logits[order[j]] = -Infinity; }
}

test("top-p, which sorts only the head, keeps exactly the tokens the full sort keeps (ties, flat and peaked rows)", () => {
  let s = 7;
  const r = () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 2 ** 32; };
  for (let k = 0; k < 120; k++) {
    const V = k % 6 === 0 ? 32000 : 5 + (k % 50);
    const scale = [0.5, 3, 8, 20][k % 4];
    const x = new Float32Array(V).map(() => Math.round(r() * scale * 4) / 4); // quarter steps: many ties
    const p = [0.1, 0.5, 0.9, 0.95, 0.999][k % 5];
    const a = x.slice(), b = x.slice();
    applyTopP(a, p);
    topPReference(b, p);
    expect(Array.from(a), `row ${k} (V ${V}, p ${p})`).toEqual(Array.from(b));
  }
});
