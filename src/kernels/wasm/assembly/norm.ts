// RMSNorm and the fused per-head QK-norm + rotate-half RoPE (kernels/ref/rmsnorm.ts, ref/qk_norm_rope.ts).
// Sum of squares in f32x4 lanes, combined in f64; RoPE angles as HF computes them: a = f32(p · invFreq[j]),
// cos/sin in f64 rounded to f32, computed once per token (not per head).

import { fma } from "./simd";

/** One row in place or out of place: out[i] = x[i] · inv · w[i]. */
// @ts-ignore: decorator
@inline function normRow(out: usize, x: usize, w: usize, dim: i32, eps: f32): void {
  let a = f32x4.splat(0), b = f32x4.splat(0);
  let i = 0;
  for (; i + 8 <= dim; i += 8) {
    const o = <usize>i << 2;
    const v = v128.load(x + o), u = v128.load(x + o, 16);
    a = fma(v, v, a); b = fma(u, u, b);
  }
  for (; i + 4 <= dim; i += 4) { const v = v128.load(x + (<usize>i << 2)); a = fma(v, v, a); }
  const s = f32x4.add(a, b);
  let ss: f64 = <f64>f32x4.extract_lane(s, 0) + <f64>f32x4.extract_lane(s, 1) + <f64>f32x4.extract_lane(s, 2) + <f64>f32x4.extract_lane(s, 3);
  for (; i < dim; i++) { const v = <f64>load<f32>(x + (<usize>i << 2)); ss += v * v; }
  const inv = <f32>(1 / Math.sqrt(ss / dim + eps));
  const iv = f32x4.splat(inv);
  i = 0;
  for (; i + 4 <= dim; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, f32x4.mul(f32x4.mul(v128.load(x + o), iv), v128.load(w + o)));
  }
  for (; i < dim; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, load<f32>(x + o) * inv * load<f32>(w + o));
  }
}

/** Rows [r0, r1) of x (rows, dim) -> out; out may alias x. */
export function rmsnorm(out: usize, x: usize, w: usize, dim: i32, eps: f32, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) {
    const o = (<usize>r * dim) << 2;
    normRow(out + o, x + o, w, dim, eps);
  }
}

/**
 * Tokens [t0, t1) of qkv (T, (nQ + 2 nKV) hd): RMSNorm each query head (qNorm) and key head (kNorm), then
 * rotate by position pos0 + t. invFreq (hd/2) f32; cs scratch (T, hd): cos | sin per token.
 */
export function qkNormRope(qkv: usize, nQ: i32, nKV: i32, hd: i32, qNorm: usize, kNorm: usize, eps: f32,
  pos0: i32, invFreq: usize, cs: usize, t0: i32, t1: i32): void {
  const half = hd >> 1;
  const stride = (nQ + 2 * nKV) * hd;
  for (let t = t0; t < t1; t++) {
    const c = cs + ((<usize>t * hd) << 2), s = c + (<usize>half << 2);
    const p = <f32>(pos0 + t);
    for (let j = 0; j < half; j++) {
      const a = p * load<f32>(invFreq + (<usize>j << 2));
      store<f32>(c + (<usize>j << 2), <f32>Math.cos(<f64>a));
      store<f32>(s + (<usize>j << 2), <f32>Math.sin(<f64>a));
    }
    for (let h = 0; h < nQ + nKV; h++) {
      const x = qkv + ((<usize>t * stride + <usize>h * hd) << 2);
      const nw = h < nQ ? qNorm : kNorm;
      if (nw != 0) normRow(x, x, nw, hd, eps); // 0: the model has no QK norm
      const y = x + (<usize>half << 2);
      let j = 0;
      for (; j + 4 <= half; j += 4) {
        const o = <usize>j << 2;
        const x0 = v128.load(x + o), x1 = v128.load(y + o), cv = v128.load(c + o), sv = v128.load(s + o);
        v128.store(x + o, f32x4.sub(f32x4.mul(x0, cv), f32x4.mul(x1, sv)));
        v128.store(y + o, f32x4.add(f32x4.mul(x1, cv), f32x4.mul(x0, sv)));
      }
      for (; j < half; j++) {
        const o = <usize>j << 2;
        const x0 = load<f32>(x + o), x1 = load<f32>(y + o), cv = load<f32>(c + o), sv = load<f32>(s + o);
        store<f32>(x + o, x0 * cv - x1 * sv);
        store<f32>(y + o, x1 * cv + x0 * sv);
      }
    }
  }
}
