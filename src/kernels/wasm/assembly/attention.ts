// Causal grouped-query attention over the KV cache (kernels/ref/attention.ts), one query head per work item.
// Softmax subtracts the running max, so scores of any magnitude neither overflow nor all underflow.
// scratch holds sMax scores per query head, so heads run in parallel without sharing a buffer.

import { dotF32, fma } from "./simd";

export function attention(out: usize, q: usize, qStride: i32, k: usize, v: usize, T: i32, pos0: i32,
  nQ: i32, nKV: i32, hd: i32, scratch: usize, sMax: i32, h0: i32, h1: i32): void {
  const group = nQ / nKV;
  const kvStride = nKV * hd;
  const scale = <f32>(1 / Math.sqrt(<f64>hd));
  const hd4 = hd & ~3;
  for (let h = h0; h < h1; h++) {
    const g = h / group;
    const sc = scratch + ((<usize>h * sMax) << 2);
    for (let t = 0; t < T; t++) {
      const S = pos0 + t + 1;
      const qo = q + ((<usize>t * qStride + <usize>h * hd) << 2);
      let mx: f32 = -Infinity;
      for (let s = 0; s < S; s++) {
        const d = dotF32(qo, k + ((<usize>s * kvStride + <usize>g * hd) << 2), hd) * scale;
        store<f32>(sc + (<usize>s << 2), d);
        mx = max(mx, d);
      }
      let sum: f32 = 0;
      for (let s = 0; s < S; s++) {
        const e = Mathf.exp(load<f32>(sc + (<usize>s << 2)) - mx);
        store<f32>(sc + (<usize>s << 2), e);
        sum += e;
      }
      const inv: f32 = 1 / sum;
      const oo = out + ((<usize>t * nQ * hd + <usize>h * hd) << 2);
      memory.fill(oo, 0, <usize>hd << 2);
      for (let s = 0; s < S; s++) {
        const p = load<f32>(sc + (<usize>s << 2)) * inv;
        const pv = f32x4.splat(p);
        const vo = v + ((<usize>s * kvStride + <usize>g * hd) << 2);
        let i = 0;
        for (; i < hd4; i += 4) {
          const o = <usize>i << 2;
          v128.store(oo + o, fma(pv, v128.load(vo + o), v128.load(oo + o)));
        }
        for (; i < hd; i++) {
          const o = <usize>i << 2;
          store<f32>(oo + o, load<f32>(oo + o) + p * load<f32>(vo + o));
        }
      }
    }
  }
}
