// out (T, N) = x (T, K) · Wᵀ for float32 W (N, K), computing output columns (weight rows) [n0, n1).
// Decode (T = 1) is a memory-bound matvec: a row at a time (dotF32), so each thread reads one sequential stream
// (8 rows a tile, 8 streams sharing each x load, ran 10-17 % slower on an AMD EPYC: tg of OpenELM-270M f32).
// Prefill tiles 4 rows × 2 tokens (8 accumulators fit the 16 XMM registers V8 uses) and walks tokens in
// blocks of TB so the 4 weight rows stay in L1 while a block of x stays in L2.

import { dotF32, fma, hsum } from "./simd";

const TB = 16;

export function matmulF32(out: usize, x: usize, w: usize, T: i32, N: i32, K: i32, n0: i32, n1: i32): void {
  const rowBytes = <usize>K << 2;
  if (T == 1) { // decode: one row, one stream, at a time
    let n = n0;
    for (; n < n1; n++) store<f32>(out + (<usize>n << 2), dotF32(w + <usize>n * rowBytes, x, K));
    n0 = n;
  }
  for (let tb = 0; tb < T; tb += TB) {
    const te = min(T, tb + TB);
    let n = n0;
    for (; n + 4 <= n1; n += 4) {
      const w0 = w + <usize>n * rowBytes;
      let t = tb;
      for (; t + 2 <= te; t += 2) tile4x2(out + ((<usize>t * N + n) << 2), N, x + <usize>t * rowBytes, rowBytes, w0, K);
      if (t < te) tile4x1(out + ((<usize>t * N + n) << 2), x + <usize>t * rowBytes, w0, K);
    }
    for (; n < n1; n++) {
      const wr = w + <usize>n * rowBytes;
      for (let t = tb; t < te; t++) store<f32>(out + ((<usize>t * N + n) << 2), dotF32(wr, x + <usize>t * rowBytes, K));
    }
  }
}

/** 4 consecutive weight rows at w0 against one x row; writes out[0..4). */
function tile4x1(out: usize, x: usize, w0: usize, K: i32): void {
  const rb = <usize>K << 2;
  const w1 = w0 + rb, w2 = w1 + rb, w3 = w2 + rb;
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
  let k = 0;
  for (; k + 8 <= K; k += 8) {
    const o = <usize>k << 2;
    const xa = v128.load(x + o), xb = v128.load(x + o, 16);
    a0 = fma(v128.load(w0 + o), xa, a0); b0 = fma(v128.load(w0 + o, 16), xb, b0);
    a1 = fma(v128.load(w1 + o), xa, a1); b1 = fma(v128.load(w1 + o, 16), xb, b1);
    a2 = fma(v128.load(w2 + o), xa, a2); b2 = fma(v128.load(w2 + o, 16), xb, b2);
    a3 = fma(v128.load(w3 + o), xa, a3); b3 = fma(v128.load(w3 + o, 16), xb, b3);
  }
  for (; k + 4 <= K; k += 4) {
    const o = <usize>k << 2;
    const xa = v128.load(x + o);
    a0 = fma(v128.load(w0 + o), xa, a0); a1 = fma(v128.load(w1 + o), xa, a1);
    a2 = fma(v128.load(w2 + o), xa, a2); a3 = fma(v128.load(w3 + o), xa, a3);
  }
  let s0 = hsum(f32x4.add(a0, b0)), s1 = hsum(f32x4.add(a1, b1)), s2 = hsum(f32x4.add(a2, b2)), s3 = hsum(f32x4.add(a3, b3));
  for (; k < K; k++) {
    const o = <usize>k << 2;
    const xv = load<f32>(x + o);
    s0 += load<f32>(w0 + o) * xv; s1 += load<f32>(w1 + o) * xv;
    s2 += load<f32>(w2 + o) * xv; s3 += load<f32>(w3 + o) * xv;
  }
  store<f32>(out, s0); store<f32>(out, s1, 4); store<f32>(out, s2, 8); store<f32>(out, s3, 12);
}

/** 4 weight rows × 2 consecutive x rows (x0, x0 + xStride); out rows are N floats apart. */
function tile4x2(out: usize, N: i32, x0: usize, xStride: usize, w0: usize, K: i32): void {
  const rb = <usize>K << 2;
  const w1 = w0 + rb, w2 = w1 + rb, w3 = w2 + rb;
  const x1 = x0 + xStride;
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
  let k = 0;
  for (; k + 4 <= K; k += 4) {
    const o = <usize>k << 2;
    const xa = v128.load(x0 + o), xb = v128.load(x1 + o);
    let wv = v128.load(w0 + o); a0 = fma(wv, xa, a0); b0 = fma(wv, xb, b0);
    wv = v128.load(w1 + o); a1 = fma(wv, xa, a1); b1 = fma(wv, xb, b1);
    wv = v128.load(w2 + o); a2 = fma(wv, xa, a2); b2 = fma(wv, xb, b2);
    wv = v128.load(w3 + o); a3 = fma(wv, xa, a3); b3 = fma(wv, xb, b3);
  }
  let s0 = hsum(a0), s1 = hsum(a1), s2 = hsum(a2), s3 = hsum(a3);
  let r0 = hsum(b0), r1 = hsum(b1), r2 = hsum(b2), r3 = hsum(b3);
  for (; k < K; k++) {
    const o = <usize>k << 2;
    const xa = load<f32>(x0 + o), xb = load<f32>(x1 + o);
    let wv = load<f32>(w0 + o); s0 += wv * xa; r0 += wv * xb;
    wv = load<f32>(w1 + o); s1 += wv * xa; r1 += wv * xb;
    wv = load<f32>(w2 + o); s2 += wv * xa; r2 += wv * xb;
    wv = load<f32>(w3 + o); s3 += wv * xa; r3 += wv * xb;
  }
  const o1 = out + (<usize>N << 2);
  store<f32>(out, s0); store<f32>(out, s1, 4); store<f32>(out, s2, 8); store<f32>(out, s3, 12);
  store<f32>(o1, r0); store<f32>(o1, r1, 4); store<f32>(o1, r2, 8); store<f32>(o1, r3, 12);
}

/**
 * out (T, N) rows [n0, n1) for small T (a few activation rows, e.g. one decode token of each sequence):
 * 2 weight rows × 4 activation rows, each weight vector loaded once for the 4 rows it meets; the rest of T
 * two, then one, at a time over the same 2 weight rows (in L1 by then). One accumulator per output, K in steps of
 * 4 and a scalar tail: the decode tile's order.
 */
export function matvecF32Rows(out: usize, x: usize, w: usize, T: i32, N: i32, K: i32, n0: i32, n1: i32): void {
  const rb = <usize>K << 2, os = <usize>N << 2;
  let n = n0;
  for (; n + 2 <= n1; n += 2) rows2(out + (<usize>n << 2), os, x, rb, w + <usize>n * rb, rb, T, K);
  if (n < n1) rows2(out + (<usize>n << 2), os, x, rb, w + <usize>n * rb, 0, T, K); // one row: its own twin, stored once
}

// Weight rows w0 and w0 + wr (wr = 0: one row, only out column 0 stored) against the T rows of x.
function rows2(out: usize, os: usize, x: usize, xs: usize, w0: usize, wr: usize, T: i32, K: i32): void {
  const w1 = w0 + wr;
  let t = 0;
  for (; t + 4 <= T; t += 4) {
    const x0 = x + <usize>t * xs, x1 = x0 + xs, x2 = x1 + xs, x3 = x2 + xs;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
    let k = 0;
    for (; k + 4 <= K; k += 4) {
      const o = <usize>k << 2;
      const u = v128.load(w0 + o), v = v128.load(w1 + o);
      let xv = v128.load(x0 + o); a0 = fma(u, xv, a0); b0 = fma(v, xv, b0);
      xv = v128.load(x1 + o); a1 = fma(u, xv, a1); b1 = fma(v, xv, b1);
      xv = v128.load(x2 + o); a2 = fma(u, xv, a2); b2 = fma(v, xv, b2);
      xv = v128.load(x3 + o); a3 = fma(u, xv, a3); b3 = fma(v, xv, b3);
    }
    const ot = out + <usize>t * os;
    finish(ot, a0, b0, x0, w0, w1, wr, k, K);
    finish(ot + os, a1, b1, x1, w0, w1, wr, k, K);
    finish(ot + 2 * os, a2, b2, x2, w0, w1, wr, k, K);
    finish(ot + 3 * os, a3, b3, x3, w0, w1, wr, k, K);
  }
  if (t + 2 <= T) {
    const x0 = x + <usize>t * xs, x1 = x0 + xs;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), b0 = f32x4.splat(0), b1 = f32x4.splat(0);
    let k = 0;
    for (; k + 4 <= K; k += 4) {
      const o = <usize>k << 2;
      const u = v128.load(w0 + o), v = v128.load(w1 + o);
      let xv = v128.load(x0 + o); a0 = fma(u, xv, a0); b0 = fma(v, xv, b0);
      xv = v128.load(x1 + o); a1 = fma(u, xv, a1); b1 = fma(v, xv, b1);
    }
    const ot = out + <usize>t * os;
    finish(ot, a0, b0, x0, w0, w1, wr, k, K);
    finish(ot + os, a1, b1, x1, w0, w1, wr, k, K);
    t += 2;
  }
  if (t < T) {
    const xt = x + <usize>t * xs;
    let a = f32x4.splat(0), b = f32x4.splat(0);
    let k = 0;
    for (; k + 4 <= K; k += 4) {
      const o = <usize>k << 2;
      const xv = v128.load(xt + o);
      a = fma(v128.load(w0 + o), xv, a); b = fma(v128.load(w1 + o), xv, b);
    }
    finish(out + <usize>t * os, a, b, xt, w0, w1, wr, k, K);
  }
}

// @ts-ignore: decorator
@inline function finish(o: usize, a: v128, b: v128, x: usize, w0: usize, w1: usize, wr: usize, k: i32, K: i32): void {
  let s = hsum(a), r = hsum(b);
  for (; k < K; k++) {
    const xv = load<f32>(x + (<usize>k << 2));
    s += load<f32>(w0 + (<usize>k << 2)) * xv; r += load<f32>(w1 + (<usize>k << 2)) * xv;
  }
  store<f32>(o, s);
  if (wr != 0) store<f32>(o, r, 4);
}
