// Cross-entropy rows fused with the softmax (llm.c fused_classifier; train/autograd/cross_entropy.ts is the
// TS oracle): the forward gives each row's logsumexp and target logit (the caller sums the loss in float64),
// the backward turns the logits into their gradient in place.

import { expv } from "./simd";

/**
 * Rows [m0, m1) of logits (rows × V): lse[row] = logsumexp, tl[row] = logit of the target; rows whose
 * target (i32) is -100 get 0. The exponentials are summed 64 at a time in f32, then into a float64 total.
 */
export function ceForward(logits: usize, V: i32, targets: usize, lse: usize, tl: usize, m0: i32, m1: i32): void {
  for (let r = m0; r < m1; r++) {
    const y = load<i32>(targets + (<usize>r << 2));
    if (y == -100) { store<f32>(lse + (<usize>r << 2), 0); store<f32>(tl + (<usize>r << 2), 0); continue; }
    const row = logits + ((<usize>r * V) << 2);
    let mv = f32x4.splat(-Infinity);
    let i = 0;
    for (; i + 4 <= V; i += 4) mv = f32x4.max(mv, v128.load(row + (<usize>i << 2)));
    let mx = max(max(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1)), max(f32x4.extract_lane(mv, 2), f32x4.extract_lane(mv, 3)));
    for (let k = i; k < V; k++) mx = max(mx, load<f32>(row + (<usize>k << 2)));
    const ms = f32x4.splat(mx);
    let sum: f64 = 0;
    i = 0;
    for (; i + 64 <= V; i += 64) {
      let s = f32x4.splat(0);
      for (let q = 0; q < 64; q += 4) s = f32x4.add(s, expv(f32x4.sub(v128.load(row + (<usize>(i + q) << 2)), ms)));
      sum += <f64>(f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1)) + <f64>(f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3));
    }
    for (; i < V; i++) sum += Math.exp(<f64>(load<f32>(row + (<usize>i << 2)) - mx));
    store<f32>(lse + (<usize>r << 2), <f32>(<f64>mx + Math.log(sum)));
    store<f32>(tl + (<usize>r << 2), load<f32>(row + (<usize>y << 2)));
  }
}

/** In place: logits rows become (cs + zs·lse) · softmax − cs · onehot(target); ignored rows become 0. */
export function ceBackward(logits: usize, V: i32, targets: usize, lse: usize, cs: f32, zs: f32, m0: i32, m1: i32): void {
  for (let r = m0; r < m1; r++) {
    const y = load<i32>(targets + (<usize>r << 2));
    const row = logits + ((<usize>r * V) << 2);
    if (y == -100) { memory.fill(row, 0, <usize>V << 2); continue; }
    const l = load<f32>(lse + (<usize>r << 2));
    const f: f32 = cs + zs * l;
    const ls = f32x4.splat(l), fs = f32x4.splat(f);
    let i = 0;
    for (; i + 4 <= V; i += 4) {
      const o = row + (<usize>i << 2);
      v128.store(o, f32x4.mul(expv(f32x4.sub(v128.load(o), ls)), fs));
    }
    for (; i < V; i++) {
      const o = row + (<usize>i << 2);
      store<f32>(o, <f32>Math.exp(<f64>(load<f32>(o) - l)) * f);
    }
    const t = row + (<usize>y << 2);
    store<f32>(t, load<f32>(t) - cs);
  }
}
