// SwiGLU and its backward, residual add, and the embedding row copy (kernels/ref/swiglu.ts, ref/embed.ts,
// train/autograd/swiglu.ts).

import { expv, halfToF32 } from "./simd";
import { halfRowPtr } from "./matmul_half";
import { f32RowPtr } from "./matmul_float_rows";

/** Rows [r0, r1): out (T, F) = silu(gu[:, :F]) · gu[:, F:]. silu(g) = g / (1 + e^-g): e^-g = inf gives -0, not NaN. */
export function swiglu(out: usize, gu: usize, F: i32, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) {
    const g = gu + ((<usize>r * 2 * F) << 2), u = g + (<usize>F << 2), o = out + ((<usize>r * F) << 2);
    const one = f32x4.splat(1);
    let i = 0;
    // expv: relative error ~1e-7, its clamp keeps e^-g finite; two vectors a trip, whose exps' dependent chains
    // (≈ 40 operations each) then overlap
    for (; i + 8 <= F; i += 8) {
      const b = <usize>i << 2, gv = v128.load(g + b), gw = v128.load(g + b, 16);
      const ev = expv(f32x4.neg(gv)), ew = expv(f32x4.neg(gw));
      v128.store(o + b, f32x4.mul(f32x4.div(gv, f32x4.add(one, ev)), v128.load(u + b)));
      v128.store(o + b, f32x4.mul(f32x4.div(gw, f32x4.add(one, ew)), v128.load(u + b, 16)), 16);
    }
    for (; i + 4 <= F; i += 4) {
      const b = <usize>i << 2, gv = v128.load(g + b);
      v128.store(o + b, f32x4.mul(f32x4.div(gv, f32x4.add(one, expv(f32x4.neg(gv)))), v128.load(u + b)));
    }
    for (; i < F; i++) {
      const gi = load<f32>(g + (<usize>i << 2));
      store<f32>(o + (<usize>i << 2), gi / (1 + Mathf.exp(-gi)) * load<f32>(u + (<usize>i << 2)));
    }
  }
}

/** Rows [r0, r1): dgu (T, 2F) from dout (T, F): d gate = d · up · σ(g)(1 + g(1 − σ(g))), d up = d · silu(g). */
export function swigluBackward(dgu: usize, dout: usize, gu: usize, F: i32, r0: i32, r1: i32): void {
  const one = f32x4.splat(1);
  for (let r = r0; r < r1; r++) {
    const g0 = gu + ((<usize>r * 2 * F) << 2), u0 = g0 + (<usize>F << 2);
    const dg0 = dgu + ((<usize>r * 2 * F) << 2), du0 = dg0 + (<usize>F << 2), d0 = dout + ((<usize>r * F) << 2);
    let f = 0;
    for (; f + 4 <= F; f += 4) {
      const o = <usize>f << 2;
      const g = v128.load(g0 + o), u = v128.load(u0 + o), d = v128.load(d0 + o);
      const sig = f32x4.div(one, f32x4.add(one, expv(f32x4.neg(g))));
      v128.store(dg0 + o, f32x4.mul(f32x4.mul(d, u), f32x4.mul(sig, f32x4.add(one, f32x4.mul(g, f32x4.sub(one, sig))))));
      v128.store(du0 + o, f32x4.mul(d, f32x4.mul(g, sig)));
    }
    for (; f < F; f++) {
      const o = <usize>f << 2;
      const g = load<f32>(g0 + o), u = load<f32>(u0 + o), d = load<f32>(d0 + o);
      const sig = <f32>(1 / (1 + Math.exp(-<f64>g)));
      store<f32>(dg0 + o, d * u * sig * (1 + g * (1 - sig)));
      store<f32>(du0 + o, d * g * sig);
    }
  }
}

/** x[i] += y[i] for i in [i0, i1). */
export function addInPlace(x: usize, y: usize, i0: i32, i1: i32): void {
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const o = <usize>i << 2;
    v128.store(x + o, f32x4.add(v128.load(x + o), v128.load(y + o)));
  }
  for (; i < i1; i++) {
    const o = <usize>i << 2;
    store<f32>(x + o, load<f32>(x + o) + load<f32>(y + o));
  }
}

/**
 * Index of the largest of x[0 … n), the first on ties, NaN never the largest (0 when x[0] is NaN): the scan of
 * generate/sampler.ts's argmax (best = 0; take i where x[i] > best's value), as a maximum over 16 lanes and a
 * search for its first position. Lanes start at x[0] and take v only where lane < v, so a NaN never gets in.
 */
export function argmax(x: usize, n: i32): i32 {
  if (n <= 1) return 0;
  const x0 = load<f32>(x);
  if (x0 != x0) return 0;
  let m0 = f32x4.splat(x0), m1 = m0, m2 = m0, m3 = m0;
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const p = x + (<usize>i << 2);
    m0 = f32x4.pmax(m0, v128.load(p));
    m1 = f32x4.pmax(m1, v128.load(p, 16));
    m2 = f32x4.pmax(m2, v128.load(p, 32));
    m3 = f32x4.pmax(m3, v128.load(p, 48));
  }
  m0 = f32x4.pmax(f32x4.pmax(m0, m1), f32x4.pmax(m2, m3));
  let m = x0;
  const l0 = f32x4.extract_lane(m0, 0), l1 = f32x4.extract_lane(m0, 1), l2 = f32x4.extract_lane(m0, 2), l3 = f32x4.extract_lane(m0, 3);
  if (m < l0) m = l0;
  if (m < l1) m = l1;
  if (m < l2) m = l2;
  if (m < l3) m = l3;
  for (; i < n; i++) { const v = load<f32>(x + (<usize>i << 2)); if (m < v) m = v; }
  const mv = f32x4.splat(m);
  i = 0;
  while (i + 4 <= n && !v128.any_true(f32x4.eq(v128.load(x + (<usize>i << 2)), mv))) i += 4;
  for (; i < n; i++) if (load<f32>(x + (<usize>i << 2)) == m) return i;
  return 0;
}

/**
 * Row r of a 16-bit (isBf16 ? bf16 : f16; the 8-row layout of matmul_half.ts) or f32 matrix (the layout of
 * matmul_float_rows.ts) with K columns, widened to f32 at out.
 */
export function widenRow(w: usize, bytesPer: i32, isBf16: bool, K: i32, r: i32, out: usize): void {
  if (bytesPer == 4) { // the f32 layout: a row's values 32 bytes apart
    const src = f32RowPtr(w, K, r);
    for (let k = 0; k < K; k++) store<f32>(out + (<usize>k << 2), load<f32>(src + (<usize>k << 5)));
    return;
  }
  const src = halfRowPtr(w, K, r);
  for (let k = 0; k < K; k++) {
    const bits = <u32>load<u16>(src + (<usize>(k >> 3) << 7) + (<usize>(k & 7) << 1));
    store<f32>(out + (<usize>k << 2), isBf16 ? reinterpret<f32>(bits << 16) : halfToF32(bits));
  }
}
