// out (T, N) = x (T, K) · Wᵀ for 16-bit W (N, K): bf16 (H = u16) or f16 (H = i16), rows [n0, n1).
// 8 halves load as one v128; as u32 lanes, the even elements sit in the low 16 bits and the odd ones in
// the high 16 bits. For bf16 that makes widening two ops (shl 16; and 0xffff0000), so instead of shuffling
// the weights we permute x once per call (permuteX: each group of 8 becomes [even 4 | odd 4]).
// f16 widening is the exponent-rebias trick (simd.ts), about twice the work of bf16.

import { fma, hsum, halfToF32, halfLowToF32x4, halfHighToF32x4 } from "./simd";

const TB = 16;

/** xp rows [r0, r1) of (T, K) = x with every full group of 8 reordered [0 2 4 6 1 3 5 7]; the tail copied. */
export function permuteX(x: usize, xp: usize, K: i32, r0: i32, r1: i32): void {
  const K8 = K & ~7;
  for (let r = r0; r < r1; r++) {
    const src = x + ((<usize>r * K) << 2), dst = xp + ((<usize>r * K) << 2);
    for (let k = 0; k < K8; k += 8) {
      const o = <usize>k << 2;
      const a = v128.load(src + o), b = v128.load(src + o, 16);
      v128.store(dst + o, v128.shuffle<i32>(a, b, 0, 2, 4, 6));
      v128.store(dst + o, v128.shuffle<i32>(a, b, 1, 3, 5, 7), 16);
    }
    for (let k = K8; k < K; k++) store<f32>(dst + (<usize>k << 2), load<f32>(src + (<usize>k << 2)));
  }
}

// @ts-ignore: decorator
@inline function even<H>(v: v128): v128 {
  if (isSigned<H>()) return halfLowToF32x4(v);
  return i32x4.shl(v, 16);
}

// @ts-ignore: decorator
@inline function odd<H>(v: v128): v128 {
  if (isSigned<H>()) return halfHighToF32x4(v);
  return v128.and(v, i32x4.splat(0xffff0000));
}

// @ts-ignore: decorator
@inline function scalar<H>(bits: u32): f32 {
  if (isSigned<H>()) return halfToF32(bits);
  return reinterpret<f32>(bits << 16);
}

/** xp: x permuted by permuteX. */
export function matmulHalf<H>(out: usize, xp: usize, w: usize, T: i32, N: i32, K: i32, n0: i32, n1: i32): void {
  const rowBytes = <usize>K << 1, xBytes = <usize>K << 2;
  if (T == 1) { // decode: 8 rows (8 concurrent DRAM streams) at a time
    let n = n0;
    for (; n + 8 <= n1; n += 8) tile8x1<H>(out + (<usize>n << 2), xp, w + <usize>n * rowBytes, K);
    n0 = n;
  }
  for (let tb = 0; tb < T; tb += TB) {
    const te = min(T, tb + TB);
    let n = n0;
    for (; n + 4 <= n1; n += 4) {
      const w0 = w + <usize>n * rowBytes;
      let t = tb;
      for (; t + 2 <= te; t += 2) tile4x2<H>(out + ((<usize>t * N + n) << 2), N, xp + <usize>t * xBytes, xBytes, w0, K);
      if (t < te) tile4x1<H>(out + ((<usize>t * N + n) << 2), xp + <usize>t * xBytes, w0, K);
    }
    for (; n < n1; n++) {
      const wr = w + <usize>n * rowBytes;
      for (let t = tb; t < te; t++) store<f32>(out + ((<usize>t * N + n) << 2), dot1<H>(xp + <usize>t * xBytes, wr, K));
    }
  }
}

function dot1<H>(x: usize, w: usize, K: i32): f32 {
  let a = f32x4.splat(0), b = f32x4.splat(0);
  let k = 0;
  for (; k + 8 <= K; k += 8) {
    const v = v128.load(w + (<usize>k << 1));
    const xo = x + (<usize>k << 2);
    a = fma(even<H>(v), v128.load(xo), a);
    b = fma(odd<H>(v), v128.load(xo, 16), b);
  }
  let s = hsum(f32x4.add(a, b));
  for (; k < K; k++) s += scalar<H>(load<u16>(w + (<usize>k << 1))) * load<f32>(x + (<usize>k << 2));
  return s;
}

function tile4x1<H>(out: usize, x: usize, w0: usize, K: i32): void {
  const rb = <usize>K << 1;
  const w1 = w0 + rb, w2 = w1 + rb, w3 = w2 + rb;
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
  let k = 0;
  for (; k + 8 <= K; k += 8) {
    const wo = <usize>k << 1, xo = x + (<usize>k << 2);
    const xe = v128.load(xo), xd = v128.load(xo, 16);
    let v = v128.load(w0 + wo); a0 = fma(even<H>(v), xe, a0); b0 = fma(odd<H>(v), xd, b0);
    v = v128.load(w1 + wo); a1 = fma(even<H>(v), xe, a1); b1 = fma(odd<H>(v), xd, b1);
    v = v128.load(w2 + wo); a2 = fma(even<H>(v), xe, a2); b2 = fma(odd<H>(v), xd, b2);
    v = v128.load(w3 + wo); a3 = fma(even<H>(v), xe, a3); b3 = fma(odd<H>(v), xd, b3);
  }
  let s0 = hsum(f32x4.add(a0, b0)), s1 = hsum(f32x4.add(a1, b1)), s2 = hsum(f32x4.add(a2, b2)), s3 = hsum(f32x4.add(a3, b3));
  for (; k < K; k++) {
    const wo = <usize>k << 1;
    const xv = load<f32>(x + (<usize>k << 2));
    s0 += scalar<H>(load<u16>(w0 + wo)) * xv; s1 += scalar<H>(load<u16>(w1 + wo)) * xv;
    s2 += scalar<H>(load<u16>(w2 + wo)) * xv; s3 += scalar<H>(load<u16>(w3 + wo)) * xv;
  }
  store<f32>(out, s0); store<f32>(out, s1, 4); store<f32>(out, s2, 8); store<f32>(out, s3, 12);
}

function tile4x2<H>(out: usize, N: i32, x0: usize, xStride: usize, w0: usize, K: i32): void {
  const rb = <usize>K << 1;
  const w1 = w0 + rb, w2 = w1 + rb, w3 = w2 + rb;
  const x1 = x0 + xStride;
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
  let k = 0;
  for (; k + 8 <= K; k += 8) {
    const wo = <usize>k << 1, xo = <usize>k << 2;
    const xe0 = v128.load(x0 + xo), xd0 = v128.load(x0 + xo, 16);
    const xe1 = v128.load(x1 + xo), xd1 = v128.load(x1 + xo, 16);
    let v = v128.load(w0 + wo); let e = even<H>(v), d = odd<H>(v);
    a0 = fma(d, xd0, fma(e, xe0, a0)); b0 = fma(d, xd1, fma(e, xe1, b0));
    v = v128.load(w1 + wo); e = even<H>(v); d = odd<H>(v);
    a1 = fma(d, xd0, fma(e, xe0, a1)); b1 = fma(d, xd1, fma(e, xe1, b1));
    v = v128.load(w2 + wo); e = even<H>(v); d = odd<H>(v);
    a2 = fma(d, xd0, fma(e, xe0, a2)); b2 = fma(d, xd1, fma(e, xe1, b2));
    v = v128.load(w3 + wo); e = even<H>(v); d = odd<H>(v);
    a3 = fma(d, xd0, fma(e, xe0, a3)); b3 = fma(d, xd1, fma(e, xe1, b3));
  }
  let s0 = hsum(a0), s1 = hsum(a1), s2 = hsum(a2), s3 = hsum(a3);
  let r0 = hsum(b0), r1 = hsum(b1), r2 = hsum(b2), r3 = hsum(b3);
  for (; k < K; k++) {
    const wo = <usize>k << 1, xo = <usize>k << 2;
    const xa = load<f32>(x0 + xo), xb = load<f32>(x1 + xo);
    let wv = scalar<H>(load<u16>(w0 + wo)); s0 += wv * xa; r0 += wv * xb;
    wv = scalar<H>(load<u16>(w1 + wo)); s1 += wv * xa; r1 += wv * xb;
    wv = scalar<H>(load<u16>(w2 + wo)); s2 += wv * xa; r2 += wv * xb;
    wv = scalar<H>(load<u16>(w3 + wo)); s3 += wv * xa; r3 += wv * xb;
  }
  const o1 = out + (<usize>N << 2);
  store<f32>(out, s0); store<f32>(out, s1, 4); store<f32>(out, s2, 8); store<f32>(out, s3, 12);
  store<f32>(o1, r0); store<f32>(o1, r1, 4); store<f32>(o1, r2, 8); store<f32>(o1, r3, 12);
}

/** 8 consecutive weight rows at w0 against one permuted x row; writes out[0..8). */
function tile8x1<H>(out: usize, x: usize, w0: usize, K: i32): void {
  const rb = <usize>K << 1;
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let a4 = f32x4.splat(0), a5 = f32x4.splat(0), a6 = f32x4.splat(0), a7 = f32x4.splat(0);
  let k = 0;
  for (; k + 8 <= K; k += 8) {
    const p = w0 + (<usize>k << 1), xo = x + (<usize>k << 2);
    const xe = v128.load(xo), xd = v128.load(xo, 16);
    let v = v128.load(p); a0 = fma(odd<H>(v), xd, fma(even<H>(v), xe, a0));
    v = v128.load(p + rb); a1 = fma(odd<H>(v), xd, fma(even<H>(v), xe, a1));
    v = v128.load(p + 2 * rb); a2 = fma(odd<H>(v), xd, fma(even<H>(v), xe, a2));
    v = v128.load(p + 3 * rb); a3 = fma(odd<H>(v), xd, fma(even<H>(v), xe, a3));
    v = v128.load(p + 4 * rb); a4 = fma(odd<H>(v), xd, fma(even<H>(v), xe, a4));
    v = v128.load(p + 5 * rb); a5 = fma(odd<H>(v), xd, fma(even<H>(v), xe, a5));
    v = v128.load(p + 6 * rb); a6 = fma(odd<H>(v), xd, fma(even<H>(v), xe, a6));
    v = v128.load(p + 7 * rb); a7 = fma(odd<H>(v), xd, fma(even<H>(v), xe, a7));
  }
  for (let r = 0; r < 8; r++) {
    const acc = r == 0 ? a0 : r == 1 ? a1 : r == 2 ? a2 : r == 3 ? a3 : r == 4 ? a4 : r == 5 ? a5 : r == 6 ? a6 : a7;
    let s = hsum(acc);
    const wr = w0 + <usize>r * rb;
    for (let j = k; j < K; j++) s += scalar<H>(load<u16>(wr + (<usize>j << 1))) * load<f32>(x + (<usize>j << 2));
    store<f32>(out + (<usize>r << 2), s);
  }
}

/**
 * out (T, N) rows [n0, n1) for small T (xp permuted): 2 weight rows × 4 activation rows, each weight vector
 * loaded and widened once for the 4 rows it meets; the rest of T two, then one, at a time. One accumulator per
 * output in the decode tile's order.
 */
export function matvecHalfRows<H>(out: usize, xp: usize, w: usize, T: i32, N: i32, K: i32, n0: i32, n1: i32): void {
  const rb = <usize>K << 1, os = <usize>N << 2;
  let n = n0;
  for (; n + 2 <= n1; n += 2) halfRows2<H>(out + (<usize>n << 2), os, xp, <usize>K << 2, w + <usize>n * rb, rb, T, K);
  if (n < n1) halfRows2<H>(out + (<usize>n << 2), os, xp, <usize>K << 2, w + <usize>n * rb, 0, T, K);
}

// Weight rows w0 and w0 + wr (wr = 0: one row, only out column 0 stored) against the T rows of xp.
function halfRows2<H>(out: usize, os: usize, x: usize, xs: usize, w0: usize, wr: usize, T: i32, K: i32): void {
  const w1 = w0 + wr;
  let t = 0;
  for (; t + 4 <= T; t += 4) {
    const x0 = x + <usize>t * xs, x1 = x0 + xs, x2 = x1 + xs, x3 = x2 + xs;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
    let k = 0;
    for (; k + 8 <= K; k += 8) {
      const wo = <usize>k << 1, o = <usize>k << 2;
      const u = v128.load(w0 + wo), v = v128.load(w1 + wo);
      const ue = even<H>(u), ud = odd<H>(u), ve = even<H>(v), vd = odd<H>(v);
      let xe = v128.load(x0 + o), xd = v128.load(x0 + o, 16);
      a0 = fma(ud, xd, fma(ue, xe, a0)); b0 = fma(vd, xd, fma(ve, xe, b0));
      xe = v128.load(x1 + o); xd = v128.load(x1 + o, 16);
      a1 = fma(ud, xd, fma(ue, xe, a1)); b1 = fma(vd, xd, fma(ve, xe, b1));
      xe = v128.load(x2 + o); xd = v128.load(x2 + o, 16);
      a2 = fma(ud, xd, fma(ue, xe, a2)); b2 = fma(vd, xd, fma(ve, xe, b2));
      xe = v128.load(x3 + o); xd = v128.load(x3 + o, 16);
      a3 = fma(ud, xd, fma(ue, xe, a3)); b3 = fma(vd, xd, fma(ve, xe, b3));
    }
    const ot = out + <usize>t * os;
    halfFinish<H>(ot, a0, b0, x0, w0, w1, wr, k, K);
    halfFinish<H>(ot + os, a1, b1, x1, w0, w1, wr, k, K);
    halfFinish<H>(ot + 2 * os, a2, b2, x2, w0, w1, wr, k, K);
    halfFinish<H>(ot + 3 * os, a3, b3, x3, w0, w1, wr, k, K);
  }
  if (t + 2 <= T) {
    const x0 = x + <usize>t * xs, x1 = x0 + xs;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), b0 = f32x4.splat(0), b1 = f32x4.splat(0);
    let k = 0;
    for (; k + 8 <= K; k += 8) {
      const wo = <usize>k << 1, o = <usize>k << 2;
      const u = v128.load(w0 + wo), v = v128.load(w1 + wo);
      const ue = even<H>(u), ud = odd<H>(u), ve = even<H>(v), vd = odd<H>(v);
      let xe = v128.load(x0 + o), xd = v128.load(x0 + o, 16);
      a0 = fma(ud, xd, fma(ue, xe, a0)); b0 = fma(vd, xd, fma(ve, xe, b0));
      xe = v128.load(x1 + o); xd = v128.load(x1 + o, 16);
      a1 = fma(ud, xd, fma(ue, xe, a1)); b1 = fma(vd, xd, fma(ve, xe, b1));
    }
    const ot = out + <usize>t * os;
    halfFinish<H>(ot, a0, b0, x0, w0, w1, wr, k, K);
    halfFinish<H>(ot + os, a1, b1, x1, w0, w1, wr, k, K);
    t += 2;
  }
  if (t < T) {
    const xt = x + <usize>t * xs;
    let a = f32x4.splat(0), b = f32x4.splat(0);
    let k = 0;
    for (; k + 8 <= K; k += 8) {
      const wo = <usize>k << 1, o = <usize>k << 2;
      const xe = v128.load(xt + o), xd = v128.load(xt + o, 16);
      let v = v128.load(w0 + wo); a = fma(odd<H>(v), xd, fma(even<H>(v), xe, a));
      v = v128.load(w1 + wo); b = fma(odd<H>(v), xd, fma(even<H>(v), xe, b));
    }
    halfFinish<H>(out + <usize>t * os, a, b, xt, w0, w1, wr, k, K);
  }
}

// @ts-ignore: decorator
@inline function halfFinish<H>(o: usize, a: v128, b: v128, x: usize, w0: usize, w1: usize, wr: usize, k: i32, K: i32): void {
  let s = hsum(a), r = hsum(b);
  for (; k < K; k++) {
    const xv = load<f32>(x + (<usize>k << 2));
    s += scalar<H>(load<u16>(w0 + (<usize>k << 1))) * xv; r += scalar<H>(load<u16>(w1 + (<usize>k << 1))) * xv;
  }
  store<f32>(o, s);
  if (wr != 0) store<f32>(o, r, 4);
}
