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

// ---------------------------------------------------------------- backward (train/autograd/rmsnorm.ts, qk_norm_rope.ts)
// Reductions run in float64. A norm weight's gradient sums over every row, so it is a second pass over
// columns (items = columns), each thread owning a slice of a float64 scratch row: no two threads add into
// one value, and the result does not depend on the thread count.

/**
 * Rows [r0, r1): dx (+= when acc) rstd · (dy·w − x̂ · mean(dy·w·x̂)), x̂ = x · rstd, with rstd recomputed
 * from x as the forward does and kept in rs (rows) for rmsnormGradW.
 */
export function rmsnormBackward(dx: usize, dy: usize, x: usize, w: usize, dim: i32, eps: f32, acc: i32, rs: usize, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) {
    const o = (<usize>r * dim) << 2;
    let ss: f64 = 0;
    for (let i = 0; i < dim; i++) { const v = <f64>load<f32>(x + o + (<usize>i << 2)); ss += v * v; }
    const s = <f32>(1 / Math.sqrt(ss / dim + eps));
    store<f32>(rs + (<usize>r << 2), s);
    let dot: f64 = 0;
    for (let i = 0; i < dim; i++) {
      const e = o + (<usize>i << 2);
      dot += <f64>load<f32>(dy + e) * <f64>load<f32>(w + (<usize>i << 2)) * <f64>(load<f32>(x + e) * s);
    }
    const m = <f32>(dot / dim);
    for (let i = 0; i < dim; i++) {
      const e = o + (<usize>i << 2);
      const g = s * (load<f32>(dy + e) * load<f32>(w + (<usize>i << 2)) - load<f32>(x + e) * s * m);
      store<f32>(dx + e, acc ? load<f32>(dx + e) + g : g);
    }
  }
}

/** Columns [c0, c1): dw[c] += Σ_rows dy[r, c] · x[r, c] · rs[r], summed in sc (f64, dim) then added once. */
export function rmsnormGradW(dw: usize, dy: usize, x: usize, rs: usize, rows: i32, dim: i32, sc: usize, c0: i32, c1: i32): void {
  for (let c = c0; c < c1; c++) store<f64>(sc + (<usize>c << 3), 0);
  for (let r = 0; r < rows; r++) {
    const o = (<usize>r * dim) << 2, s = load<f32>(rs + (<usize>r << 2));
    for (let c = c0; c < c1; c++) {
      const e = o + (<usize>c << 2), p = sc + (<usize>c << 3);
      store<f64>(p, load<f64>(p) + <f64>load<f32>(dy + e) * <f64>(load<f32>(x + e) * s));
    }
  }
  for (let c = c0; c < c1; c++) {
    const p = dw + (<usize>c << 2);
    store<f32>(p, load<f32>(p) + <f32>load<f64>(sc + (<usize>c << 3)));
  }
}

/**
 * Tokens [n0, n1) of the backward of qkNormRope over B sequences of T tokens (position of token n: n % T):
 * dqkv (N, S) (overwritten) from dy (N, S) and the pre-norm qkv. Each query/key head: rotate dy back by
 * −angle, then the RMSNorm backward with rstd recomputed; value columns pass through. gh (N, (nQ + nKV) hd)
 * keeps the un-rotated gradient and rs (N, nQ + nKV) each head's rstd for qkNormGradW (norm weight 0:
 * RoPE only, nothing kept).
 */
export function qkNormRopeBackward(dqkv: usize, dy: usize, qkv: usize, nQ: i32, nKV: i32, hd: i32, qNorm: usize,
  kNorm: usize, eps: f32, T: i32, invFreq: usize, gh: usize, rs: usize, n0: i32, n1: i32): void {
  const half = hd >> 1, S = (nQ + 2 * nKV) * hd, H = nQ + nKV;
  for (let n = n0; n < n1; n++) {
    const p = <f32>(n % T);
    const row = (<usize>n * S) << 2;
    for (let h = 0; h < H; h++) {
      const src = qkv + row + ((<usize>h * hd) << 2), d = dy + row + ((<usize>h * hd) << 2);
      const out = dqkv + row + ((<usize>h * hd) << 2), g = gh + ((<usize>(n * H + h) * hd) << 2);
      const w = h < nQ ? qNorm : kNorm;
      for (let j = 0; j < half; j++) { // RoPE is a rotation: its transpose rotates by −angle
        const a = p * load<f32>(invFreq + (<usize>j << 2));
        const c = <f32>Math.cos(<f64>a), sn = <f32>Math.sin(<f64>a);
        const g0 = load<f32>(d + (<usize>j << 2)), g1 = load<f32>(d + (<usize>(j + half) << 2));
        store<f32>(g + (<usize>j << 2), g0 * c + g1 * sn);
        store<f32>(g + (<usize>(j + half) << 2), g1 * c - g0 * sn);
      }
      if (w == 0) { memory.copy(out, g, <usize>hd << 2); continue; }
      let ss: f64 = 0;
      for (let i = 0; i < hd; i++) { const v = <f64>load<f32>(src + (<usize>i << 2)); ss += v * v; }
      const s = <f32>(1 / Math.sqrt(ss / hd + eps));
      store<f32>(rs + (<usize>(n * H + h) << 2), s);
      let dot: f64 = 0;
      for (let i = 0; i < hd; i++) {
        const e = <usize>i << 2;
        dot += <f64>load<f32>(g + e) * <f64>load<f32>(w + e) * <f64>(load<f32>(src + e) * s);
      }
      const m = <f32>(dot / hd);
      for (let i = 0; i < hd; i++) {
        const e = <usize>i << 2;
        store<f32>(out + e, s * (load<f32>(g + e) * load<f32>(w + e) - load<f32>(src + e) * s * m));
      }
    }
    memory.copy(dqkv + row + ((<usize>H * hd) << 2), dy + row + ((<usize>H * hd) << 2), (<usize>nKV * hd) << 2);
  }
}

/**
 * Items [i0, i1) of 2·hd: item i < hd adds Σ over tokens and query heads of gh · x̂ to dqNorm[i], item hd + i
 * the same over key heads to dkNorm[i] (sums in sc, f64 2·hd).
 */
export function qkNormGradW(dqNorm: usize, dkNorm: usize, gh: usize, qkv: usize, rs: usize, N: i32, nQ: i32, nKV: i32,
  hd: i32, sc: usize, i0: i32, i1: i32): void {
  const S = (nQ + 2 * nKV) * hd, H = nQ + nKV;
  for (let i = i0; i < i1; i++) store<f64>(sc + (<usize>i << 3), 0);
  for (let n = 0; n < N; n++) {
    for (let h = 0; h < H; h++) {
      const lo = h < nQ ? 0 : hd;
      const a = max(i0, lo), b = min(i1, lo + hd);
      if (a >= b) continue;
      const s = load<f32>(rs + (<usize>(n * H + h) << 2));
      const src = qkv + ((<usize>n * S + <usize>h * hd) << 2), g = gh + ((<usize>(n * H + h) * hd) << 2);
      for (let i = a; i < b; i++) {
        const e = <usize>(i - lo) << 2, p = sc + (<usize>i << 3);
        store<f64>(p, load<f64>(p) + <f64>load<f32>(g + e) * <f64>(load<f32>(src + e) * s));
      }
    }
  }
  for (let i = i0; i < i1; i++) {
    const p = (i < hd ? dqNorm + (<usize>i << 2) : dkNorm + (<usize>(i - hd) << 2));
    if ((i < hd ? dqNorm : dkNorm) == 0) continue;
    store<f32>(p, load<f32>(p) + <f32>load<f64>(sc + (<usize>i << 3)));
  }
}

/**
 * Tokens [n0, n1) of B sequences of T: qkv (N, S) token-major <-> q (B, nQ, T, hd), k, v (B, nKV, T, hd)
 * head-major (the layout attention's per-head matmuls want). merge = 0: split qkv; 1: gather q, k, v into qkv.
 */
export function splitHeads(qkv: usize, q: usize, k: usize, v: usize, T: i32, nQ: i32, nKV: i32, hd: i32, merge: i32, n0: i32, n1: i32): void {
  const S = (nQ + 2 * nKV) * hd, hb = <usize>hd << 2;
  for (let n = n0; n < n1; n++) {
    const b = n / T, t = n % T;
    const row = qkv + ((<usize>n * S) << 2);
    for (let h = 0; h < nQ + 2 * nKV; h++) {
      let dst: usize;
      if (h < nQ) dst = q + ((<usize>((b * nQ + h) * T + t) * hd) << 2);
      else if (h < nQ + nKV) dst = k + ((<usize>((b * nKV + h - nQ) * T + t) * hd) << 2);
      else dst = v + ((<usize>((b * nKV + h - nQ - nKV) * T + t) * hd) << 2);
      if (merge) memory.copy(row + <usize>h * hb, dst, hb); else memory.copy(dst, row + <usize>h * hb, hb);
    }
  }
}
