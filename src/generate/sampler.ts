// Token choice: greedy argmax, or a seeded draw from the processed distribution.
// The generator is the seeded xoshiro128** of train/rng.ts (one draw of 32 bits per sampled token).

import { Rng } from "../tensor/rng.js";

export { Rng };

/** Index of the largest value (the first one on ties, as torch.argmax). */
export function argmax(x: Float32Array): number {
  let best = 0, max = x[0];
  for (let i = 1; i < x.length; i++) {
    const v = x[i];
    if (v > max) { max = v; best = i; }
  }
  return best;
}

/** Draw an index with probability softmax(logits); -inf logits are never drawn. */
export function sample(logits: Float32Array, rng: Rng): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  let u = rng.next() * sum;
  let last = 0;
  for (let i = 0; i < logits.length; i++) {
    const p = Math.exp(logits[i] - max);
    if (p === 0) continue;
    last = i;
    u -= p;
    if (u < 0) return i;
  }
  return last; // rounding left u ≥ 0: the last possible token
}
