// K-quant weights (llama.cpp q4_K, q5_K, q6_K: super-blocks of 256 with 6-bit / int8 sub-block scales) and
// the 5-bit 32-blocks that llama-quantize substitutes for them on rows that are not a multiple of 256 (q5_0,
// q5_1). Activations are quantized to int8 on the fly, like ggml's: for K-quants one scale per 256 inputs
// (quantizeActK, ggml's q8_K), so a super-block's sub-block dots are summed in integers, scaled by the 6-bit /
// int8 sub-block scales, and converted to float once per super-block: Σ_sb dx·(d·Σ_j sc_j·Σ x·q − dmin·Σ_j m_j·Σ x).
// q5_0 / q5_1 use quantizeAct's per-32 scales (matmul_quant.ts, ggml's q8_0 / q8_1). Either way the int16
// copy of the activations is stored per 16 inputs as [even 8 | odd 8], with the int sum of each 32 inputs.
// Reference: ggml-cpu quants.c ggml_vec_dot_q{4,5,6}_K_q8_K, ggml_vec_dot_q5_{0,1}_q8_{0,1}.
//
// Weights stay in ggml's block layout, row after row (no repack): the nibble layout already matches the
// even/odd activation split. A byte pair as an i16 lane holds weights (2k, 2k+1) in its low nibbles (and the
// next sub-block's in its high nibbles), so shift + and unpack them into lanes that line up with x's halves.

import { halfToF32 } from "./simd";

export const KQ_Q4_K = 0, KQ_Q5_K = 1, KQ_Q6_K = 2, KQ_Q5_0 = 3, KQ_Q5_1 = 4;

/** Bytes of one row of K weights in ggml's layout. */
// @ts-ignore: decorator
@inline export function kqRowBytes(kind: i32, K: i32): usize {
  switch (kind) {
    case KQ_Q4_K: return <usize>(K >> 8) * 144;
    case KQ_Q5_K: return <usize>(K >> 8) * 176;
    case KQ_Q6_K: return <usize>(K >> 8) * 210;
    case KQ_Q5_0: return <usize>(K >> 5) * 22;
    default: return <usize>(K >> 5) * 24;
  }
}

// Σ lanes of the i16 dots of weight lanes (we, wo: even / odd elements) with x's halves.
// @ts-ignore: decorator
@inline function dot2(we: v128, wo: v128, xe: v128, xo: v128): v128 {
  return i32x4.add(i32x4.dot_i16x8_s(we, xe), i32x4.dot_i16x8_s(wo, xo));
}

/** One row of q4_K / q5_K (five: the fifth bits in qh) against one activation row: Σ_k w_k · x_k. */
// @ts-ignore: decorator
@inline function rowQ45K(w: usize, x16: usize, dx: usize, sums: usize, nsb: i32, five: bool): f32 {
  const bb: usize = five ? 176 : 144;
  const m15 = i16x8.splat(15), bit = i16x8.splat(16);
  let acc = f32x4.splat(0);
  let accMin: f32 = 0;
  for (let s = 0; s < nsb; s++) {
    const blk = w + <usize>s * bb;
    const qs = blk + (five ? 48 : 16);
    const h0 = five ? v128.load(blk, 16) : i16x8.splat(0), h1 = five ? v128.load(blk, 32) : i16x8.splat(0);
    // 6-bit scales and mins of the 8 sub-blocks (get_scale_min_k4): bytes of scLo/scHi and mLo/mHi.
    const a = load<u32>(blk, 4), b = load<u32>(blk, 8), c = load<u32>(blk, 12);
    const scLo = a & 0x3f3f3f3f, mLo = b & 0x3f3f3f3f;
    const scHi = (c & 0x0f0f0f0f) | ((a >> 2) & 0x30303030), mHi = ((c >> 4) & 0x0f0f0f0f) | ((b >> 2) & 0x30303030);
    const xs = x16 + (<usize>s << 9), ss = sums + (<usize>s << 5);
    let accI = i32x4.splat(0);
    let minI: i32 = 0;
    for (let j = 0; j < 4; j++) {
      const v0 = v128.load(qs + (<usize>j << 5)), v1 = v128.load(qs + (<usize>j << 5), 16);
      let e0 = v128.and(v0, m15), o0 = v128.and(i16x8.shr_u(v0, 8), m15);
      let e1 = v128.and(v1, m15), o1 = v128.and(i16x8.shr_u(v1, 8), m15);
      let f0 = v128.and(i16x8.shr_u(v0, 4), m15), g0 = i16x8.shr_u(v0, 12);
      let f1 = v128.and(i16x8.shr_u(v1, 4), m15), g1 = i16x8.shr_u(v1, 12);
      if (five) { // sub-block 2j's fifth bit is qh bit 2j, 2j+1's bit 2j+1; moved to bit 4 of the lane
        const sa = 2 * j, sb = 2 * j + 1;
        e0 = v128.or(e0, v128.and(i16x8.shl(i16x8.shr_u(h0, sa), 4), bit));
        o0 = v128.or(o0, v128.and(i16x8.shr_u(h0, sa + 4), bit));
        e1 = v128.or(e1, v128.and(i16x8.shl(i16x8.shr_u(h1, sa), 4), bit));
        o1 = v128.or(o1, v128.and(i16x8.shr_u(h1, sa + 4), bit));
        f0 = v128.or(f0, v128.and(i16x8.shl(i16x8.shr_u(h0, sb), 4), bit));
        g0 = v128.or(g0, v128.and(i16x8.shr_u(h0, sb + 4), bit));
        f1 = v128.or(f1, v128.and(i16x8.shl(i16x8.shr_u(h1, sb), 4), bit));
        g1 = v128.or(g1, v128.and(i16x8.shr_u(h1, sb + 4), bit));
      }
      const xa = xs + (<usize>j << 7), xb = xa + 64; // sub-blocks 2j and 2j+1
      const p = i32x4.add(dot2(e0, o0, v128.load(xa), v128.load(xa, 16)), dot2(e1, o1, v128.load(xa, 32), v128.load(xa, 48)));
      const q = i32x4.add(dot2(f0, g0, v128.load(xb), v128.load(xb, 16)), dot2(f1, g1, v128.load(xb, 32), v128.load(xb, 48)));
      const sh = <u32>(j & 1) << 4; // sub-blocks 2j, 2j+1 are bytes (2j & 3), (2j & 3) + 1 of the Lo / Hi words
      const scw = j < 2 ? scLo : scHi, mw = j < 2 ? mLo : mHi;
      accI = i32x4.add(accI, i32x4.add(i32x4.mul(p, i32x4.splat((scw >> sh) & 0xff)), i32x4.mul(q, i32x4.splat((scw >> (sh + 8)) & 0xff))));
      minI += <i32>((mw >> sh) & 0xff) * load<i32>(ss + (<usize>j << 3)) + <i32>((mw >> (sh + 8)) & 0xff) * load<i32>(ss + (<usize>j << 3), 4);
    }
    const dxs = load<f32>(dx + (<usize>s << 2));
    acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(accI), f32x4.splat(halfToF32(load<u16>(blk)) * dxs)));
    accMin += halfToF32(load<u16>(blk, 2)) * dxs * <f32>minI;
  }
  return f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3) - accMin;
}

/** One row of q6_K against one activation row. */
// @ts-ignore: decorator
@inline function rowQ6K(w: usize, x16: usize, dx: usize, nsb: i32): f32 {
  const m15 = i16x8.splat(15), m3 = i16x8.splat(3), off = i16x8.splat(32);
  let acc = f32x4.splat(0);
  for (let s = 0; s < nsb; s++) {
    const blk = w + <usize>s * 210;
    let accI = i32x4.splat(0);
    for (let n = 0; n < 2; n++) {
      const ql = blk + (<usize>n << 6), qh = blk + 128 + (<usize>n << 5), sc = blk + 192 + (<usize>n << 3);
      const A0 = v128.load(ql), A1 = v128.load(ql, 16), B0 = v128.load(ql, 32), B1 = v128.load(ql, 48);
      const H0 = v128.load(qh), H1 = v128.load(qh, 16);
      for (let c = 0; c < 4; c++) { // weights 32c … 32c+31 of this half: q1, q2, q3, q4 of dequantize_row_q6_K
        const S0 = (c & 1) ? B0 : A0, S1 = (c & 1) ? B1 : A1;
        const ns = c >= 2 ? 4 : 0, hs = 2 * c;
        const e0 = i16x8.sub(v128.or(v128.and(i16x8.shr_u(S0, ns), m15), i16x8.shl(v128.and(i16x8.shr_u(H0, hs), m3), 4)), off);
        const o0 = i16x8.sub(v128.or(v128.and(i16x8.shr_u(S0, ns + 8), m15), i16x8.shl(v128.and(i16x8.shr_u(H0, hs + 8), m3), 4)), off);
        const e1 = i16x8.sub(v128.or(v128.and(i16x8.shr_u(S1, ns), m15), i16x8.shl(v128.and(i16x8.shr_u(H1, hs), m3), 4)), off);
        const o1 = i16x8.sub(v128.or(v128.and(i16x8.shr_u(S1, ns + 8), m15), i16x8.shl(v128.and(i16x8.shr_u(H1, hs + 8), m3), 4)), off);
        const xa = x16 + (((<usize>s << 3) + (<usize>n << 2) + <usize>c) << 6);
        const p0 = dot2(e0, o0, v128.load(xa), v128.load(xa, 16)); // weights 0..15: scale sc[2c]
        const p1 = dot2(e1, o1, v128.load(xa, 32), v128.load(xa, 48)); // 16..31: sc[2c+1]
        accI = i32x4.add(accI, i32x4.add(i32x4.mul(p0, i32x4.splat(<i32>load<i8>(sc + 2 * c))), i32x4.mul(p1, i32x4.splat(<i32>load<i8>(sc + 2 * c + 1)))));
      }
    }
    acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(accI), f32x4.splat(halfToF32(load<u16>(blk, 208)) * load<f32>(dx + (<usize>s << 2)))));
  }
  return f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
}

/** One row of q5_0 / q5_1 (one: with the min m) against one activation row. */
// @ts-ignore: decorator
@inline function rowQ5(w: usize, x16: usize, dx: usize, corr: usize, nb: i32, one: bool): f32 {
  const bb: usize = one ? 24 : 22;
  const m15 = i16x8.splat(15), bit = i16x8.splat(16);
  const mEven = i16x8(1, 4, 16, 64, 256, 1024, 4096, 16384); // lane k: bit 2k
  const mOdd = i16x8.shl(mEven, 1);                                          // lane k: bit 2k+1
  let acc = f32x4.splat(0);
  let accM: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const blk = w + <usize>b * bb;
    const d = halfToF32(load<u16>(blk));
    const qh = load<u32>(blk + (one ? 4 : 2));
    const v = v128.load(blk + (one ? 8 : 6));
    const lo = i16x8.splat(<i16>(qh & 0xffff)), hi = i16x8.splat(<i16>(qh >> 16));
    // weights 2k, 2k+1 (low nibbles) and 16+2k, 17+2k (high nibbles), each with its fifth bit from qh.
    const e0 = v128.or(v128.and(v, m15), v128.and(i16x8.ne(v128.and(lo, mEven), i16x8.splat(0)), bit));
    const o0 = v128.or(v128.and(i16x8.shr_u(v, 8), m15), v128.and(i16x8.ne(v128.and(lo, mOdd), i16x8.splat(0)), bit));
    const e1 = v128.or(v128.and(i16x8.shr_u(v, 4), m15), v128.and(i16x8.ne(v128.and(hi, mEven), i16x8.splat(0)), bit));
    const o1 = v128.or(i16x8.shr_u(v, 12), v128.and(i16x8.ne(v128.and(hi, mOdd), i16x8.splat(0)), bit));
    const xa = x16 + (<usize>b << 6);
    let p = i32x4.add(dot2(e0, o0, v128.load(xa), v128.load(xa, 16)), dot2(e1, o1, v128.load(xa, 32), v128.load(xa, 48)));
    const sum = load<i32>(corr + (<usize>b << 4)) >> 3;
    const dxb = load<f32>(dx + (<usize>b << 2));
    if (one) accM += halfToF32(load<u16>(blk, 2)) * dxb * <f32>sum; // q5_1: w = d·q + m
    else p = i32x4.sub(p, i32x4.replace_lane(i32x4.splat(0), 0, sum << 4)); // q5_0: w = d·(q − 16)
    acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(p), f32x4.splat(d * dxb)));
  }
  return f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3) + accM;
}

const TB = 16;

/**
 * Rows [r0, r1) of x (T, K), K % 256 == 0 -> q16 (T, K) i16 (per 16: [even 8 | odd 8]), dx (T, K/256) f32
 * scales (amax/127 per 256, ggml's q8_K), sums (T, K/32) i32: the int sum of each 32 levels.
 */
export function quantizeActK(x: usize, K: i32, q16: usize, dx: usize, sums: usize, r0: i32, r1: i32): void {
  const nsb = K >> 8;
  for (let r = r0; r < r1; r++) {
    for (let s = 0; s < nsb; s++) {
      const e0 = (<usize>r * nsb + s) << 8; // element index
      const xs = x + (e0 << 2);
      let m = f32x4.splat(0);
      for (let i: usize = 0; i < 1024; i += 16) m = f32x4.max(m, f32x4.abs(v128.load(xs + i)));
      const amax = max(max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
      const d: f32 = amax / 127;
      const idv = f32x4.splat(d != 0 ? <f32>1 / d : 0);
      store<f32>(dx + (((<usize>r * nsb) + s) << 2), d);
      for (let b: usize = 0; b < 8; b++) {
        const xb = xs + (b << 7);
        const q0 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(xb), idv)));
        const q1 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(xb, 16), idv)));
        const q2 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(xb, 32), idv)));
        const q3 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(xb, 48), idv)));
        const q4 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(xb, 64), idv)));
        const q5 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(xb, 80), idv)));
        const q6 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(xb, 96), idv)));
        const q7 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(xb, 112), idv)));
        const h0 = i16x8.narrow_i32x4_s(q0, q1), h1 = i16x8.narrow_i32x4_s(q2, q3);
        const h2 = i16x8.narrow_i32x4_s(q4, q5), h3 = i16x8.narrow_i32x4_s(q6, q7);
        const o16 = q16 + ((e0 + (b << 5)) << 1);
        v128.store(o16, v128.shuffle<i16>(h0, h1, 0, 2, 4, 6, 8, 10, 12, 14));
        v128.store(o16, v128.shuffle<i16>(h0, h1, 1, 3, 5, 7, 9, 11, 13, 15), 16);
        v128.store(o16, v128.shuffle<i16>(h2, h3, 0, 2, 4, 6, 8, 10, 12, 14), 32);
        v128.store(o16, v128.shuffle<i16>(h2, h3, 1, 3, 5, 7, 9, 11, 13, 15), 48);
        const sv = i32x4.add(i32x4.add(i32x4.add(q0, q1), i32x4.add(q2, q3)), i32x4.add(i32x4.add(q4, q5), i32x4.add(q6, q7)));
        store<i32>(sums + (((e0 >> 5) + b) << 2), i32x4.extract_lane(sv, 0) + i32x4.extract_lane(sv, 1) + i32x4.extract_lane(sv, 2) + i32x4.extract_lane(sv, 3));
      }
    }
  }
}

// One loop per weight type, each with its row kernel inlined: a single loop with all five inlined behind a
// switch compiled to one huge function whose vector registers spilled.
// corr: for K-quants the i32 sum of each 32 activations (quantizeActK), else quantizeAct's i32x4 [8·Σq, 0, 0, 0].
function loopQ4K(out: usize, q16: usize, dx: usize, corr: usize, w: usize, T: i32, N: i32, K: i32, n0: i32, n1: i32): void {
  const rb = kqRowBytes(KQ_Q4_K, K), nd = K >> 8, cb: usize = <usize>(K >> 5) << 2;
  for (let tb = 0; tb < T; tb += TB) {
    const te = min(T, tb + TB);
    for (let n = n0; n < n1; n++)
      for (let t = tb; t < te; t++)
        store<f32>(out + ((<usize>t * N + n) << 2), rowQ45K(w + <usize>n * rb, q16 + ((<usize>t * K) << 1), dx + ((<usize>t * nd) << 2), corr + <usize>t * cb, K >> 8, false));
  }
}

function loopQ5K(out: usize, q16: usize, dx: usize, corr: usize, w: usize, T: i32, N: i32, K: i32, n0: i32, n1: i32): void {
  const rb = kqRowBytes(KQ_Q5_K, K), nd = K >> 8, cb: usize = <usize>(K >> 5) << 2;
  for (let tb = 0; tb < T; tb += TB) {
    const te = min(T, tb + TB);
    for (let n = n0; n < n1; n++)
      for (let t = tb; t < te; t++)
        store<f32>(out + ((<usize>t * N + n) << 2), rowQ45K(w + <usize>n * rb, q16 + ((<usize>t * K) << 1), dx + ((<usize>t * nd) << 2), corr + <usize>t * cb, K >> 8, true));
  }
}

function loopQ6K(out: usize, q16: usize, dx: usize, w: usize, T: i32, N: i32, K: i32, n0: i32, n1: i32): void {
  const rb = kqRowBytes(KQ_Q6_K, K), nd = K >> 8;
  for (let tb = 0; tb < T; tb += TB) {
    const te = min(T, tb + TB);
    for (let n = n0; n < n1; n++)
      for (let t = tb; t < te; t++)
        store<f32>(out + ((<usize>t * N + n) << 2), rowQ6K(w + <usize>n * rb, q16 + ((<usize>t * K) << 1), dx + ((<usize>t * nd) << 2), K >> 8));
  }
}

function loopQ5(out: usize, q16: usize, dx: usize, corr: usize, w: usize, T: i32, N: i32, K: i32, n0: i32, n1: i32, one: bool): void {
  const rb = kqRowBytes(one ? KQ_Q5_1 : KQ_Q5_0, K), nb = K >> 5;
  for (let tb = 0; tb < T; tb += TB) {
    const te = min(T, tb + TB);
    for (let n = n0; n < n1; n++)
      for (let t = tb; t < te; t++) {
        const wr = w + <usize>n * rb, x = q16 + ((<usize>t * K) << 1), d = dx + ((<usize>t * nb) << 2), c = corr + ((<usize>t * nb) << 4);
        store<f32>(out + ((<usize>t * N + n) << 2), one ? rowQ5(wr, x, d, c, nb, true) : rowQ5(wr, x, d, c, nb, false));
      }
  }
}

/**
 * out (T, N) rows [n0, n1) = act (T, K) · Wᵀ for W of `kind` in ggml's layout at w; act from quantizeActK for
 * K-quants (dx per 256, corr = sums per 32), from quantizeAct for q5_0 / q5_1.
 * Prefill goes over token blocks of TB so that a weight row stays in L1 while the block's tokens pass.
 */
export function matmulKQuant(out: usize, q16: usize, dx: usize, corr: usize, w: usize, kind: i32,
  T: i32, N: i32, K: i32, n0: i32, n1: i32): void {
  switch (kind) {
    case KQ_Q4_K: loopQ4K(out, q16, dx, corr, w, T, N, K, n0, n1); break;
    case KQ_Q5_K: loopQ5K(out, q16, dx, corr, w, T, N, K, n0, n1); break;
    case KQ_Q6_K: loopQ6K(out, q16, dx, w, T, N, K, n0, n1); break;
    default: loopQ5(out, q16, dx, corr, w, T, N, K, n0, n1, kind == KQ_Q5_1);
  }
}
