// Block-quantized weights (llama.cpp q8_0 / q4_0, 32 weights a block) times activations quantized to int8
// blocks on the fly (like ggml's q8_0 activations, but with an f32 scale): integer dots, one float
// multiply-add per block. Reference: ggml-cpu quants.c ggml_vec_dot_q8_0_q8_0 / ggml_vec_dot_q4_0_q8_0.
//
// Weights are repacked at load (repackQuant) into two arrays so every load is aligned and the hot loop
// never converts an f16: quants (N, K) bytes (q4_0: (N, K/2), ggml's nibble order: byte j holds weight j
// in the low nibble and j+16 in the high one) and scales (N, K/32) f32.
// Activations (quantizeAct): per row of K, int16 copies q16 (for i32x4.dot_i16x8_s), int8 copies q8 (for
// the relaxed i8·i7 dot), a scale per block, and per block an i32x4 [8·Σq, 0, 0, 0]: q4_0 nibbles are
// stored +8, so Σ x·(q-8) = Σ x·q − 8·Σ x and the correction is one vector subtract.

import { fma, hsum, halfToF32 } from "./simd";

const TB = 16;

/** ggml blocks (bpb = 34 for q8_0, 18 for q4_0) of rows [r0, r1) -> quants + f32 scales. */
export function repackQuant(src: usize, isQ8: bool, K: i32, dstQ: usize, dstS: usize, r0: i32, r1: i32): void {
  const nb = K >> 5;
  const qb: usize = isQ8 ? 32 : 16;
  const bpb: usize = qb + 2;
  for (let r = r0; r < r1; r++) {
    for (let b = 0; b < nb; b++) {
      const i = <usize>r * nb + b;
      const s = src + i * bpb;
      store<f32>(dstS + (i << 2), halfToF32(load<u16>(s)));
      memory.copy(dstQ + i * qb, s + 2, qb);
    }
  }
}

/** Rows [r0, r1) of x (T, K), K % 32 == 0 -> q16 (T, K) i16, q8 (T, K) i8, dx (T, K/32) f32, corr (T, K/32) i32x4. */
export function quantizeAct(x: usize, K: i32, q16: usize, q8: usize, dx: usize, corr: usize, r0: i32, r1: i32): void {
  const nb = K >> 5;
  for (let r = r0; r < r1; r++) {
    for (let b = 0; b < nb; b++) {
      const i = <usize>r * nb + b;          // block index
      const e = i << 5;                     // element index
      const xs = x + (e << 2);
      const v0 = v128.load(xs), v1 = v128.load(xs, 16), v2 = v128.load(xs, 32), v3 = v128.load(xs, 48);
      const v4 = v128.load(xs, 64), v5 = v128.load(xs, 80), v6 = v128.load(xs, 96), v7 = v128.load(xs, 112);
      let m = f32x4.max(f32x4.max(f32x4.abs(v0), f32x4.abs(v1)), f32x4.max(f32x4.abs(v2), f32x4.abs(v3)));
      m = f32x4.max(m, f32x4.max(f32x4.max(f32x4.abs(v4), f32x4.abs(v5)), f32x4.max(f32x4.abs(v6), f32x4.abs(v7))));
      const amax = max(max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
      const d: f32 = amax / 127;
      const idv = f32x4.splat(d != 0 ? <f32>1 / d : 0);
      const q0 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v0, idv)));
      const q1 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v1, idv)));
      const q2 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v2, idv)));
      const q3 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v3, idv)));
      const q4 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v4, idv)));
      const q5 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v5, idv)));
      const q6 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v6, idv)));
      const q7 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v7, idv)));
      const h0 = i16x8.narrow_i32x4_s(q0, q1), h1 = i16x8.narrow_i32x4_s(q2, q3);
      const h2 = i16x8.narrow_i32x4_s(q4, q5), h3 = i16x8.narrow_i32x4_s(q6, q7);
      const o16 = q16 + (e << 1);
      v128.store(o16, h0); v128.store(o16, h1, 16); v128.store(o16, h2, 32); v128.store(o16, h3, 48);
      v128.store(q8 + e, i8x16.narrow_i16x8_s(h0, h1));
      v128.store(q8 + e, i8x16.narrow_i16x8_s(h2, h3), 16);
      const sv = i32x4.add(i32x4.add(i32x4.add(q0, q1), i32x4.add(q2, q3)), i32x4.add(i32x4.add(q4, q5), i32x4.add(q6, q7)));
      const sum = i32x4.extract_lane(sv, 0) + i32x4.extract_lane(sv, 1) + i32x4.extract_lane(sv, 2) + i32x4.extract_lane(sv, 3);
      store<f32>(dx + (i << 2), d);
      v128.store(corr + (i << 4), i32x4.replace_lane(i32x4.splat(0), 0, sum << 3));
    }
  }
}

/** Widen row r of a repacked quantized matrix to f32 at out. */
export function dequantRow(q: usize, s: usize, isQ8: bool, K: i32, r: i32, out: usize): void {
  const nb = K >> 5;
  for (let b = 0; b < nb; b++) {
    const i = <usize>r * nb + b;
    const d = load<f32>(s + (i << 2));
    const o = out + ((i - <usize>r * nb) << 7);
    if (isQ8) {
      for (let j = 0; j < 32; j++) store<f32>(o + (<usize>j << 2), d * <f32>load<i8>(q + (i << 5) + j));
    } else {
      for (let j = 0; j < 16; j++) {
        const byte = load<u8>(q + (i << 4) + j);
        store<f32>(o + (<usize>j << 2), d * <f32>(<i32>(byte & 15) - 8));
        store<f32>(o + (<usize>(j + 16) << 2), d * <f32>(<i32>(byte >> 4) - 8));
      }
    }
  }
}

// One block's integer dot (i32x4 partial sums) of weight row bytes at wb with the activation block.
// @ts-ignore: decorator
@inline function dotQ8(wb: usize, xa: v128, xb: v128, xc: v128, xd: v128): v128 {
  const w0 = v128.load(wb), w1 = v128.load(wb, 16);
  return i32x4.add(
    i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(w0), xa), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(w0), xb)),
    i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(w1), xc), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(w1), xd)));
}

// q4_0: Σ x·nibble (the −8 is in corr). Relaxed build: i8·i7 dots to i16 (|sum| ≤ 4·127·15 fits), then pairwise.
// @ts-ignore: decorator
@inline function dotQ4(wb: usize, xa: v128, xb: v128, xc: v128, xd: v128, x8a: v128, x8b: v128): v128 {
  const v = v128.load(wb);
  const lo = v128.and(v, i8x16.splat(15)), hi = i8x16.shr_u(v, 4);
  if (ASC_FEATURE_RELAXED_SIMD) {
    return i32x4.extadd_pairwise_i16x8_s(i16x8.add(
      i16x8.relaxed_dot_i8x16_i7x16_s(x8a, lo), i16x8.relaxed_dot_i8x16_i7x16_s(x8b, hi)));
  }
  return i32x4.add(
    i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(lo), xa), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(lo), xb)),
    i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(hi), xc), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(hi), xd)));
}

/**
 * out (T, N) rows [n0, n1) = act (T, K) · Wᵀ, W quantized (isQ8: q8_0, else q4_0), act from quantizeAct.
 * Decode: 4 weight rows share each activation block. Prefill: the same, over token blocks of TB.
 */
export function matmulQuant<W>(out: usize, q16: usize, q8: usize, dx: usize, corr: usize,
  wq: usize, ws: usize, T: i32, N: i32, K: i32, n0: i32, n1: i32): void {
  const nb = K >> 5;
  const isQ8 = isSigned<W>(); // W = i8: q8_0, u8: q4_0 (a compile-time flag, so each loop is specialised)
  const qRow: usize = isQ8 ? <usize>K : <usize>K >> 1;
  const sRow: usize = <usize>nb << 2;
  for (let tb = 0; tb < T; tb += TB) {
    const te = min(T, tb + TB);
    let n = n0;
    for (; n + 4 <= n1; n += 4) {
      for (let t = tb; t < te; t++) {
        tile4<W>(out + ((<usize>t * N + n) << 2), q16 + ((<usize>t * K) << 1), q8 + <usize>t * K,
          dx + <usize>t * sRow, corr + ((<usize>t * nb) << 4), wq + <usize>n * qRow, ws + <usize>n * sRow, qRow, sRow, nb);
      }
    }
    for (; n < n1; n++) {
      for (let t = tb; t < te; t++) {
        store<f32>(out + ((<usize>t * N + n) << 2), row1<W>(q16 + ((<usize>t * K) << 1), q8 + <usize>t * K,
          dx + <usize>t * sRow, corr + ((<usize>t * nb) << 4), wq + <usize>n * qRow, ws + <usize>n * sRow, nb));
      }
    }
  }
}

function row1<W>(x16: usize, x8: usize, dx: usize, corr: usize, wq: usize, ws: usize, nb: i32): f32 {
  const isQ8 = isSigned<W>();
  let acc = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const bi = <usize>b;
    const xo = x16 + (bi << 6);
    const xa = v128.load(xo), xb = v128.load(xo, 16), xc = v128.load(xo, 32), xd = v128.load(xo, 48);
    const d = load<f32>(dx + (bi << 2));
    let p: v128;
    if (isQ8) p = dotQ8(wq + (bi << 5), xa, xb, xc, xd);
    else {
      const x8a = v128.load(x8 + (bi << 5)), x8b = v128.load(x8 + (bi << 5), 16);
      p = i32x4.sub(dotQ4(wq + (bi << 4), xa, xb, xc, xd, x8a, x8b), v128.load(corr + (bi << 4)));
    }
    acc = fma(f32x4.convert_i32x4_s(p), f32x4.splat(load<f32>(ws + (bi << 2)) * d), acc);
  }
  return hsum(acc);
}

function tile4<W>(out: usize, x16: usize, x8: usize, dx: usize, corr: usize,
  w0: usize, s0: usize, qRow: usize, sRow: usize, nb: i32): void {
  const w1 = w0 + qRow, w2 = w1 + qRow, w3 = w2 + qRow;
  const s1 = s0 + sRow, s2 = s1 + sRow, s3 = s2 + sRow;
  const isQ8 = isSigned<W>();
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const bi = <usize>b;
    const xo = x16 + (bi << 6);
    const xa = v128.load(xo), xb = v128.load(xo, 16), xc = v128.load(xo, 32), xd = v128.load(xo, 48);
    const d = load<f32>(dx + (bi << 2));
    const so = bi << 2;
    if (isQ8) {
      const wo = bi << 5;
      a0 = fma(f32x4.convert_i32x4_s(dotQ8(w0 + wo, xa, xb, xc, xd)), f32x4.splat(load<f32>(s0 + so) * d), a0);
      a1 = fma(f32x4.convert_i32x4_s(dotQ8(w1 + wo, xa, xb, xc, xd)), f32x4.splat(load<f32>(s1 + so) * d), a1);
      a2 = fma(f32x4.convert_i32x4_s(dotQ8(w2 + wo, xa, xb, xc, xd)), f32x4.splat(load<f32>(s2 + so) * d), a2);
      a3 = fma(f32x4.convert_i32x4_s(dotQ8(w3 + wo, xa, xb, xc, xd)), f32x4.splat(load<f32>(s3 + so) * d), a3);
    } else {
      const wo = bi << 4;
      const x8a = v128.load(x8 + (bi << 5)), x8b = v128.load(x8 + (bi << 5), 16);
      const c = v128.load(corr + (bi << 4));
      a0 = fma(f32x4.convert_i32x4_s(i32x4.sub(dotQ4(w0 + wo, xa, xb, xc, xd, x8a, x8b), c)), f32x4.splat(load<f32>(s0 + so) * d), a0);
      a1 = fma(f32x4.convert_i32x4_s(i32x4.sub(dotQ4(w1 + wo, xa, xb, xc, xd, x8a, x8b), c)), f32x4.splat(load<f32>(s1 + so) * d), a1);
      a2 = fma(f32x4.convert_i32x4_s(i32x4.sub(dotQ4(w2 + wo, xa, xb, xc, xd, x8a, x8b), c)), f32x4.splat(load<f32>(s2 + so) * d), a2);
      a3 = fma(f32x4.convert_i32x4_s(i32x4.sub(dotQ4(w3 + wo, xa, xb, xc, xd, x8a, x8b), c)), f32x4.splat(load<f32>(s3 + so) * d), a3);
    }
  }
  store<f32>(out, hsum(a0)); store<f32>(out, hsum(a1), 4); store<f32>(out, hsum(a2), 8); store<f32>(out, hsum(a3), 12);
}
