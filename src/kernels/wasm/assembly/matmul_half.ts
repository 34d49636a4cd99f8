// out (T, N) = x (T, K) · Wᵀ for 16-bit W (N, K): bf16 (H = u16) or f16 (H = i16), rows [n0, n1).
// Layout (repackHalf, at load): groups of 8 rows interleaved chunk by chunk: a chunk is 8 consecutive halves of
// a row (16 bytes), and a group stores chunk c of its rows 0 … 7 side by side (128 bytes) before chunk c + 1.
// Rows are padded to a multiple of 8 and K to a multiple of 32 (Kc = 4·⌈K/32⌉ chunks) with zeros, so every dot
// is whole chunks, a tile walks a pointer 128 bytes a step with its rows at literal offsets 16·j, and the decode
// tile reads a group as one sequential stream, 4 chunks (512 bytes) a trip. (Walking a group's four quarters of
// K side by side, four streams, ran at a third of that speed from DRAM on an AMD EPYC: bf16 tg128 32 → 68 t/s.)
// 8 halves load as one v128; as u32 lanes, the even elements sit in the low 16 bits and the odd ones in the
// high 16 bits. For bf16 that makes widening two ops (shl 16; and 0xffff0000), so instead of shuffling the
// weights we permute x once per call (permuteX: each chunk of 8 becomes [even 4 | odd 4], zero-padded to Kc
// chunks). f16 widening is the exponent-rebias trick (simd.ts), about twice the work of bf16.

import { fma, HALF_CONSTS, halfLowToF32x4With, halfHighToF32x4With, storeCols } from "./simd";

const TB = 16;

/** Chunks of 8 halves a padded row of K columns holds. */
// @ts-ignore: decorator
@inline export function halfChunks(K: i32): i32 { return ((K + 31) >> 5) << 2; }

/** Address of row n's first chunk in the 8-row layout of a matrix with K columns at w. */
// @ts-ignore: decorator
@inline export function halfRowPtr(w: usize, K: i32, n: i32): usize {
  return w + <usize>(n >> 3) * (<usize>halfChunks(K) << 7) + (<usize>(n & 7) << 4);
}

/** Rows rowBase + i, i in [i0, i1), of a 16-bit matrix staged row-major at src (K halves each) -> the layout at dst. */
export function repackHalf(src: usize, K: i32, dst: usize, rowBase: i32, i0: i32, i1: i32): void {
  const K8 = K & ~7, Kp = halfChunks(K) << 3;
  for (let i = i0; i < i1; i++) {
    const s = src + ((<usize>i * K) << 1);
    let d = halfRowPtr(dst, K, rowBase + i);
    for (let k = 0; k < K8; k += 8, d += 128) v128.store(d, v128.load(s + (<usize>k << 1)));
    for (let k = K8; k < Kp; k += 8, d += 128) v128.store(d, i32x4.splat(0));
    d = halfRowPtr(dst, K, rowBase + i) + (<usize>(K8 >> 3) << 7);
    for (let k = K8; k < K; k++) store<u16>(d + (<usize>(k - K8) << 1), load<u16>(s + (<usize>k << 1)));
  }
}

/** xp rows [r0, r1) of (T, 8·Kc) = x (T, K) with every chunk of 8 reordered [0 2 4 6 1 3 5 7], zero-padded. */
export function permuteX(x: usize, xp: usize, K: i32, r0: i32, r1: i32): void {
  const K8 = K & ~7, xb = <usize>halfChunks(K) << 5;
  for (let r = r0; r < r1; r++) {
    const src = x + ((<usize>r * K) << 2), dst = xp + <usize>r * xb;
    for (let k = 0; k < K8; k += 8) {
      const o = <usize>k << 2;
      const a = v128.load(src + o), b = v128.load(src + o, 16);
      v128.store(dst + o, v128.shuffle<i32>(a, b, 0, 2, 4, 6));
      v128.store(dst + o, v128.shuffle<i32>(a, b, 1, 3, 5, 7), 16);
    }
    for (let o = <usize>K8 << 2; o < xb; o += 16) v128.store(dst + o, f32x4.splat(0));
    if (K8 < K) {
      const d = dst + (<usize>K8 << 2);
      for (let j = 0; j < K - K8; j++) store<f32>(d + (<usize>((j >> 1) + ((j & 1) << 2)) << 2), load<f32>(src + (<usize>(K8 + j) << 2)));
    }
  }
}

// @ts-ignore: decorator
@inline function even<H>(v: v128, m: v128, sc: v128): v128 {
  if (isSigned<H>()) return halfLowToF32x4With(v, m, sc);
  return i32x4.shl(v, 16);
}

/**
 * The bf16 widening mask, loaded once per call: V8 rematerializes a constant operand inside a loop (three
 * instructions a use), but keeps a value loaded before it in a register.
 */
const HIGH_HALVES = memory.data<u32>([0xffff0000, 0xffff0000, 0xffff0000, 0xffff0000], 16);

/** m, sc: v128.load(HIGH_HALVES) (bf16), or HALF_CONSTS' two vectors (f16). */
// @ts-ignore: decorator
@inline function odd<H>(v: v128, m: v128, sc: v128): v128 {
  if (isSigned<H>()) return halfHighToF32x4With(v, m, sc);
  return v128.and(v, m);
}

/** [Σ a, Σ b, Σ c, Σ d]: four horizontal sums in one vector. */
// @ts-ignore: decorator
@inline function sum4(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = f32x4.add(v128.shuffle<f32>(a, b, 0, 4, 1, 5), v128.shuffle<f32>(a, b, 2, 6, 3, 7));
  const cd = f32x4.add(v128.shuffle<f32>(c, d, 0, 4, 1, 5), v128.shuffle<f32>(c, d, 2, 6, 3, 7));
  return f32x4.add(v128.shuffle<f32>(ab, cd, 0, 1, 4, 5), v128.shuffle<f32>(ab, cd, 2, 3, 6, 7));
}

/** xp: x permuted by permuteX. T = 1: n0 a multiple of 8; otherwise of 4. */
export function matmulHalf<H>(out: usize, xp: usize, w: usize, T: i32, N: i32, K: i32, n0: i32, n1: i32): void {
  const Kc = halfChunks(K), xb = <usize>Kc << 5;
  if (T == 1) { // decode: a whole 8-row group at a time
    for (let n = n0; n < n1; n += 8) group8x1<H>(out + (<usize>n << 2), xp, halfRowPtr(w, K, n), Kc, n1 - n);
    return;
  }
  for (let tb = 0; tb < T; tb += TB) {
    const te = min(T, tb + TB);
    for (let n = n0; n < n1; n += 4) {
      const p = halfRowPtr(w, K, n), cols = n1 - n;
      let t = tb;
      for (; t + 2 <= te; t += 2) tile4x2<H>(out + ((<usize>t * N + n) << 2), N, xp + <usize>t * xb, xb, p, Kc, cols);
      if (t < te) tile4x1<H>(out + ((<usize>t * N + n) << 2), xp + <usize>t * xb, p, Kc, cols);
    }
  }
}

/** The 4 rows at p (16 bytes apart, 128 a chunk) against one permuted x row; the first cols sums to out. */
function tile4x1<H>(out: usize, x: usize, p: usize, Kc: i32, cols: i32): void {
  const m = v128.load(isSigned<H>() ? HALF_CONSTS : HIGH_HALVES), sc = v128.load(HALF_CONSTS, 16);
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
  const end = p + (<usize>Kc << 7);
  do {
    const xe = v128.load(x), xd = v128.load(x, 16);
    let v = v128.load(p); a0 = fma(even<H>(v, m, sc), xe, a0); b0 = fma(odd<H>(v, m, sc), xd, b0);
    v = v128.load(p, 16); a1 = fma(even<H>(v, m, sc), xe, a1); b1 = fma(odd<H>(v, m, sc), xd, b1);
    v = v128.load(p, 32); a2 = fma(even<H>(v, m, sc), xe, a2); b2 = fma(odd<H>(v, m, sc), xd, b2);
    v = v128.load(p, 48); a3 = fma(even<H>(v, m, sc), xe, a3); b3 = fma(odd<H>(v, m, sc), xd, b3);
    p += 128; x += 32;
  } while (p != end);
  storeCols(out, sum4(f32x4.add(a0, b0), f32x4.add(a1, b1), f32x4.add(a2, b2), f32x4.add(a3, b3)), cols);
}

/** As tile4x1 for two x rows (x0, x0 + xs) into two out rows (out, out + 4N). */
function tile4x2<H>(out: usize, N: i32, x0: usize, xs: usize, p: usize, Kc: i32, cols: i32): void {
  const m = v128.load(isSigned<H>() ? HALF_CONSTS : HIGH_HALVES), sc = v128.load(HALF_CONSTS, 16);
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
  const end = p + (<usize>Kc << 7);
  let x1 = x0 + xs;
  do {
    const xe0 = v128.load(x0), xd0 = v128.load(x0, 16);
    const xe1 = v128.load(x1), xd1 = v128.load(x1, 16);
    let v = v128.load(p); let e = even<H>(v, m, sc), d = odd<H>(v, m, sc);
    a0 = fma(d, xd0, fma(e, xe0, a0)); b0 = fma(d, xd1, fma(e, xe1, b0));
    v = v128.load(p, 16); e = even<H>(v, m, sc); d = odd<H>(v, m, sc);
    a1 = fma(d, xd0, fma(e, xe0, a1)); b1 = fma(d, xd1, fma(e, xe1, b1));
    v = v128.load(p, 32); e = even<H>(v, m, sc); d = odd<H>(v, m, sc);
    a2 = fma(d, xd0, fma(e, xe0, a2)); b2 = fma(d, xd1, fma(e, xe1, b2));
    v = v128.load(p, 48); e = even<H>(v, m, sc); d = odd<H>(v, m, sc);
    a3 = fma(d, xd0, fma(e, xe0, a3)); b3 = fma(d, xd1, fma(e, xe1, b3));
    p += 128; x0 += 32; x1 += 32;
  } while (p != end);
  storeCols(out, sum4(a0, a1, a2, a3), cols);
  storeCols(out + (<usize>N << 2), sum4(b0, b1, b2, b3), cols);
}

/**
 * The 8-row group at p against one permuted x row; its first rows sums (all 8 when rows ≥ 8) to out. A trip
 * takes 4 consecutive chunks (an inner loop: V8 keeps its 8 accumulators in registers).
 */
function group8x1<H>(out: usize, x: usize, p: usize, Kc: i32, rows: i32): void {
  const m = v128.load(isSigned<H>() ? HALF_CONSTS : HIGH_HALVES), sc = v128.load(HALF_CONSTS, 16);
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let a4 = f32x4.splat(0), a5 = f32x4.splat(0), a6 = f32x4.splat(0), a7 = f32x4.splat(0);
  const end = p + (<usize>Kc << 7);
  do {
    let q = p, y = x;
    for (let s = 0; s < 4; s++) {
      const xe = v128.load(y), xd = v128.load(y, 16);
      let v = v128.load(q); a0 = fma(odd<H>(v, m, sc), xd, fma(even<H>(v, m, sc), xe, a0));
      v = v128.load(q, 16); a1 = fma(odd<H>(v, m, sc), xd, fma(even<H>(v, m, sc), xe, a1));
      v = v128.load(q, 32); a2 = fma(odd<H>(v, m, sc), xd, fma(even<H>(v, m, sc), xe, a2));
      v = v128.load(q, 48); a3 = fma(odd<H>(v, m, sc), xd, fma(even<H>(v, m, sc), xe, a3));
      v = v128.load(q, 64); a4 = fma(odd<H>(v, m, sc), xd, fma(even<H>(v, m, sc), xe, a4));
      v = v128.load(q, 80); a5 = fma(odd<H>(v, m, sc), xd, fma(even<H>(v, m, sc), xe, a5));
      v = v128.load(q, 96); a6 = fma(odd<H>(v, m, sc), xd, fma(even<H>(v, m, sc), xe, a6));
      v = v128.load(q, 112); a7 = fma(odd<H>(v, m, sc), xd, fma(even<H>(v, m, sc), xe, a7));
      q += 128; y += 32;
    }
    p += 512; x += 128;
  } while (p != end);
  storeCols(out, sum4(a0, a1, a2, a3), rows);
  storeCols(out + 16, sum4(a4, a5, a6, a7), rows - 4);
}

/**
 * out (T, N) rows [n0, n1) for small T (xp permuted), n0 even: 2 weight rows × 4 activation rows, each weight
 * vector loaded and widened once for the 4 rows it meets; the rest of T two, then one, at a time.
 */
export function matvecHalfRows<H>(out: usize, xp: usize, w: usize, T: i32, N: i32, K: i32, n0: i32, n1: i32): void {
  const Kc = halfChunks(K), os = <usize>N << 2;
  for (let n = n0; n < n1; n += 2) halfRows2<H>(out + (<usize>n << 2), os, xp, <usize>Kc << 5, halfRowPtr(w, K, n), n + 1 < n1, T, Kc);
}

// The weight rows at p and p + 16 (both: the second one's outputs stored too) against the T rows of xp.
function halfRows2<H>(out: usize, os: usize, x: usize, xs: usize, p: usize, both: bool, T: i32, Kc: i32): void {
  const m = v128.load(isSigned<H>() ? HALF_CONSTS : HIGH_HALVES), sc = v128.load(HALF_CONSTS, 16);
  const pe = p + (<usize>Kc << 7);
  let t = 0;
  for (; t + 4 <= T; t += 4) {
    const x0 = x + <usize>t * xs, x1 = x0 + xs, x2 = x1 + xs, x3 = x2 + xs;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
    let q = p, o: usize = 0;
    do {
      const u = v128.load(q), v = v128.load(q, 16);
      const ue = even<H>(u, m, sc), ud = odd<H>(u, m, sc), ve = even<H>(v, m, sc), vd = odd<H>(v, m, sc);
      let xe = v128.load(x0 + o), xd = v128.load(x0 + o, 16);
      a0 = fma(ud, xd, fma(ue, xe, a0)); b0 = fma(vd, xd, fma(ve, xe, b0));
      xe = v128.load(x1 + o); xd = v128.load(x1 + o, 16);
      a1 = fma(ud, xd, fma(ue, xe, a1)); b1 = fma(vd, xd, fma(ve, xe, b1));
      xe = v128.load(x2 + o); xd = v128.load(x2 + o, 16);
      a2 = fma(ud, xd, fma(ue, xe, a2)); b2 = fma(vd, xd, fma(ve, xe, b2));
      xe = v128.load(x3 + o); xd = v128.load(x3 + o, 16);
      a3 = fma(ud, xd, fma(ue, xe, a3)); b3 = fma(vd, xd, fma(ve, xe, b3));
      q += 128; o += 32;
    } while (q != pe);
    const ot = out + <usize>t * os;
    halfFinish(ot, a0, b0, both);
    halfFinish(ot + os, a1, b1, both);
    halfFinish(ot + 2 * os, a2, b2, both);
    halfFinish(ot + 3 * os, a3, b3, both);
  }
  if (t + 2 <= T) {
    const x0 = x + <usize>t * xs, x1 = x0 + xs;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), b0 = f32x4.splat(0), b1 = f32x4.splat(0);
    let q = p, o: usize = 0;
    do {
      const u = v128.load(q), v = v128.load(q, 16);
      const ue = even<H>(u, m, sc), ud = odd<H>(u, m, sc), ve = even<H>(v, m, sc), vd = odd<H>(v, m, sc);
      let xe = v128.load(x0 + o), xd = v128.load(x0 + o, 16);
      a0 = fma(ud, xd, fma(ue, xe, a0)); b0 = fma(vd, xd, fma(ve, xe, b0));
      xe = v128.load(x1 + o); xd = v128.load(x1 + o, 16);
      a1 = fma(ud, xd, fma(ue, xe, a1)); b1 = fma(vd, xd, fma(ve, xe, b1));
      q += 128; o += 32;
    } while (q != pe);
    const ot = out + <usize>t * os;
    halfFinish(ot, a0, b0, both);
    halfFinish(ot + os, a1, b1, both);
    t += 2;
  }
  if (t < T) {
    let xt = x + <usize>t * xs;
    let a = f32x4.splat(0), b = f32x4.splat(0);
    let q = p;
    do {
      const xe = v128.load(xt), xd = v128.load(xt, 16);
      let v = v128.load(q); a = fma(odd<H>(v, m, sc), xd, fma(even<H>(v, m, sc), xe, a));
      v = v128.load(q, 16); b = fma(odd<H>(v, m, sc), xd, fma(even<H>(v, m, sc), xe, b));
      q += 128; xt += 32;
    } while (q != pe);
    halfFinish(out + <usize>t * os, a, b, both);
  }
}

// @ts-ignore: decorator
@inline function halfFinish(o: usize, a: v128, b: v128, both: bool): void {
  const ab = f32x4.add(v128.shuffle<f32>(a, b, 0, 4, 1, 5), v128.shuffle<f32>(a, b, 2, 6, 3, 7)); // [a0+a2, b0+b2, a1+a3, b1+b3]
  const s = f32x4.add(ab, v128.shuffle<f32>(ab, ab, 2, 3, 0, 1));
  store<f32>(o, f32x4.extract_lane(s, 0));
  if (both) store<f32>(o, f32x4.extract_lane(s, 1), 4);
}
