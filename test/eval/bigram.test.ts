// The Kneser-Ney bigram baseline on a hand-counted stream.
import { expect, test } from "vitest";
import { BigramModel } from "../../src/eval/bigram.js";

test("interpolated Kneser-Ney probabilities sum to one and match hand counts", () => {
  const V = 4;
  const lm = new BigramModel(V).fit([0, 1, 0, 1, 0, 2, 3]); // pairs: 01 ×2, 10 ×2, 02, 23
  let sum = 0;
  for (let w = 0; w < V; w++) sum += Math.exp(lm.logProb(0, w));
  expect(sum).toBeCloseTo(1, 12);
  // c(0•) = 3, N1+(0•) = 2, N1+(••) = 4, N1+(•1) = 1: P(1|0) = (2-.75)/3 + (.75*2/3) * (1+1)/(4+4)
  expect(Math.exp(lm.logProb(0, 1))).toBeCloseTo(1.25 / 3 + 0.5 * 0.25, 12);
  // an unseen context falls back to the continuation distribution
  expect(Math.exp(lm.logProb(3, 0))).toBeCloseTo((1 + 1) / (4 + 4), 12);
});
