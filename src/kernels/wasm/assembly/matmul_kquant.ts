// K-quant weights (llama.cpp q4_K, q5_K, q6_K: super-blocks of 256 with 6-bit / int8 sub-block scales) and
// the 5-bit 32-blocks that llama-quantize substitutes for them on rows that are not a multiple of 256 (q5_0,
// q5_1). Reference: ggml-cpu quants.c ggml_vec_dot_q{4,5,6}_K_q8_K, ggml_vec_dot_q5_{0,1}_q8_{0,1}; the
// repacked layout follows the idea of ggml-cpu repack.cpp (block_q4_Kx8).
//
// K-quants are repacked at load (repackKQuant) into groups of 4 rows, super-block by super-block, with the
// sub-block scales and mins decoded once. The quants are interleaved 4 bytes at a time: each 16-byte vector
// holds 4 consecutive quant bytes of each of the 4 rows, so dots of one vector against 4 activation bytes
// broadcast (i8·i7 pair dots summed in i16, then pairwise to i32) leave row r's partial sum in lane r. No
// horizontal sums, and a sub-block's 4 row sums are scaled by one i32x4 multiply. Groups come in quads (16
// rows, rows padded with zeros to a multiple of 16) stored super-block by super-block, the quad's 4 group
// super-blocks interleaved 16 bytes at a time (kqGroupAt, vo): vector k of group i at 64k + 16i, so the 16-row
// decode tiles, which step through the 4 groups together, read one sequential stream.
// Per group and super-block (byte offsets x before the interleave, at vo(x) after it):
//   q4_K (592): d[4] f16, dmin[4] f16 (times 2^shift, below), sc u8 [sub-block j][row] at 16 + 4j, m u8 at 48 +
//               8(j>>1) + 2·row + (j&1) (pairs of sub-blocks, for an i16 dot with the activation sums), qs at 80: 4
//               runs of 128 bytes, run c = ggml's qs[32c .. 32c+31] of the 4 rows (low nibbles sub-block 2c, high
//               2c+1). 148 bytes a row super-block against the file's 144 (the 6-bit scales and mins unpacked).
//   q5_K (720): as q4_K, plus qh at 80 (ggml's 32 qh bytes of the 4 rows, same interleave), qs at 208.
//   q6_K (848): d[4] f32, sc i8 at 16 + 8(j>>1) + 2·row + (j&1) for sub-block j of 16 (pairs of sub-blocks, for
//               i16 pair dots with the activation sums and, duplicated, with the level dots), then the 6-bit levels (0…63) of sub-block
//               j in 3 vectors at 80 + 48j (+1 % bytes over the file's 210 a row super-block). Level vector i
//               (i = 0…3) holds levels 16j + 4i … 16j + 4i + 3 of the 4 rows (byte 4·row + t); vectors 0, 1, 2
//               are stored in the low 6 bits of A, B, C and vector 3's bits 0-1, 2-3, 4-5 in their top 2 bits.
//               A level vector is then one mask (and for vector 3 three masks, shifts and ors) from a load,
//               where ggml's ql/qh would take about twice that per token; decode streams DRAM, so the bytes
//               (a one-level-per-byte layout reads 30 % more) cost more than the 11 ops a sub-block.
// q6_K's d is the f16 value widened exactly. q4_K / q5_K keep the file's f16 d and dmin, times 2^SCALE_SHIFT (as
// q8_0's scales, matmul_quant.ts: every nonzero one then a normal half; a matrix with one ≥ 64 keeps them as they
// are): the kernels widen them in 2 ops to the value · 2^(shift - 112) (halfBitsF32x4) against activation scales
// taken times 2^(112 - shift) (quantizeActK's dscale), whose product is the f32 values' bit for bit. (f32 d and
// dmin made the layout 5.6 % larger than the file: 12 MiB of an OpenELM-1_1B Q4_K_M.) dequantRowK reproduces
// dequantize_row_q*_K bit for bit.
//
// Activations (quantizeActK): int8, one scale per 256 (ggml's q8_K), the int sum of each 32 (i16, for the
// q4_K / q5_K mins) and of each 16 (i16, for q6_K's offset: its levels are the weights + 32). Quant levels
// are 0…63, the i7 operand of the relaxed dot.
// q5_0 / q5_1 stay in ggml's layout and use quantizeAct's activations (matmul_quant.ts).

import { BYTE_CONSTS, HALF_CONSTS, M15, M16, M63, MTOP, halfBitsF32x4, halfToF32, shiftHalf, touchLines } from "./simd";

export const KQ_Q4_K = 0, KQ_Q5_K = 1, KQ_Q6_K = 2, KQ_Q5_0 = 3, KQ_Q5_1 = 4;
/** matmulKQuant's kind | KQ_DOT_ADD: q4_K / q5_K / q6_K with the four-token prefill tile in the dot-add form (dotAddK). */
export const KQ_DOT_ADD = 8;

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

/** Bytes of one 4-row group's super-block in the repacked layout. */
// @ts-ignore: decorator
@inline export function kqGroupBytes(kind: i32): usize { return kind == KQ_Q4_K ? 592 : kind == KQ_Q5_K ? 720 : 848; }

/**
 * Group gi's first super-block in a matrix of nsb super-blocks a row at w. Groups come in quads (16 rows)
 * stored super-block by super-block: a quad's 4 group super-blocks s interleaved by 16 bytes (byte x of group
 * i at vo(x) + 16i), then s + 1; within a group, super-blocks are 4 gb apart. A decode tile of 16 rows then reads
 * one sequential stream: from four streams (one a group, side by side or a super-block apart) the q4_K tile
 * read DRAM at half its in-cache rate on an AMD EPYC.
 */
// @ts-ignore: decorator
@inline export function kqGroupAt(w: usize, nsb: i32, gb: usize, gi: i32): usize {
  return w + <usize>(gi >> 2) * (<usize>nsb * gb << 2) + (<usize>(gi & 3) << 4);
}

/** Where byte x of a group super-block lies from its group's start: vector x >> 4 of the quad's 4 interleaved groups. */
// @ts-ignore: decorator
@inline export function vo(x: usize): usize { return ((x >> 4) << 6) + (x & 15); }

// Byte of level w (0…255) of row `lane` in a q6_K group super-block at o: its level vector's byte (low 6 bits;
// vector 3 of a sub-block has none of its own).
// @ts-ignore: decorator
@inline function q6Byte(o: usize, lane: usize, w: usize, i: usize): usize { return o + vo(80 + (w >> 4) * 48 + (i << 4) + (lane << 2) + (w & 3)); }

/** Store level q (0…63) of weight w of row `lane` into the q6_K group super-block at o (any order). */
function putQ6(o: usize, lane: usize, w: usize, q: u32): void {
  const i = (w >> 2) & 3;
  if (i < 3) { const p = q6Byte(o, lane, w, i); store<u8>(p, (<u32>load<u8>(p) & 0xc0) | q); return; }
  for (let k: usize = 0; k < 3; k++) { // bits 2k, 2k+1 into the top of vector k's byte
    const p = q6Byte(o, lane, w, k);
    store<u8>(p, (<u32>load<u8>(p) & 63) | (((q >> (<u32>k << 1)) & 3) << 6));
  }
}

/** Level (0…63) of weight w of row `lane` in the q6_K group super-block at o. */
function getQ6(o: usize, lane: usize, w: usize): u32 {
  const i = (w >> 2) & 3;
  if (i < 3) return <u32>load<u8>(q6Byte(o, lane, w, i)) & 63;
  return (<u32>load<u8>(q6Byte(o, lane, w, 0)) >> 6) | ((<u32>load<u8>(q6Byte(o, lane, w, 1)) >> 6) << 2) | ((<u32>load<u8>(q6Byte(o, lane, w, 2)) >> 6) << 4);
}

/**
 * ggml super-blocks of rows rowBase+i, i in [i0, i1), staged at src from row rowBase on -> the 4-row
 * repacked layout at dst (kind: KQ_Q4_K, KQ_Q5_K or KQ_Q6_K); q4_K / q5_K's d and dmin times 2^shift (0 or
 * SCALE_SHIFT), the i32 at flag set to 1 where one does not fit (the caller then repacks with shift 0).
 */
export function repackKQuant(src: usize, kind: i32, K: i32, dst: usize, rowBase: i32, shift: i32, flag: usize, i0: i32, i1: i32): void {
  const nsb = K >> 8;
  const bb = kqRowBytes(kind, 256), gb = kqGroupBytes(kind);
  for (let i = i0; i < i1; i++) {
    const r = rowBase + i;
    const lane = <usize>(r & 3);
    const g = kqGroupAt(dst, nsb, gb, r >> 2);
    for (let s = 0; s < nsb; s++) {
      const b = src + (<usize>i * nsb + s) * bb;
      const o = g + <usize>s * (gb << 2);
      if (kind == KQ_Q6_K) {
        store<f32>(o + vo(lane << 2), halfToF32(load<u16>(b, 208)));
        for (let j: usize = 0; j < 16; j++) store<i8>(o + vo(16 + ((j >> 1) << 3) + (lane << 1) + (j & 1)), load<i8>(b + 192 + j));
        for (let h: usize = 0; h < 2; h++) for (let l: usize = 0; l < 32; l++) { // dequantize_row_q6_K's bit layout
          const ql0 = <u32>load<u8>(b + (h << 6) + l), ql1 = <u32>load<u8>(b + (h << 6) + l + 32), qh = <u32>load<u8>(b + 128 + (h << 5) + l);
          const w = (h << 7) + l;
          putQ6(o, lane, w, (ql0 & 15) | ((qh & 3) << 4));
          putQ6(o, lane, w + 32, (ql1 & 15) | (((qh >> 2) & 3) << 4));
          putQ6(o, lane, w + 64, (ql0 >> 4) | (((qh >> 4) & 3) << 4));
          putQ6(o, lane, w + 96, (ql1 >> 4) | (((qh >> 6) & 3) << 4));
        }
      } else {
        const d = shiftHalf(load<u16>(b), shift), dmin = shiftHalf(load<u16>(b, 2), shift);
        if (d == 0xffffffff || dmin == 0xffffffff) store<i32>(flag, 1);
        store<u16>(o + vo(lane << 1), <u16>d);
        store<u16>(o + vo(8 + (lane << 1)), <u16>dmin);
        for (let j: usize = 0; j < 8; j++) { // get_scale_min_k4
          let sc: u32, m: u32;
          if (j < 4) { sc = load<u8>(b + 4 + j) & 63; m = load<u8>(b + 8 + j) & 63; }
          else {
            sc = (load<u8>(b + 8 + j) & 0xf) | ((<u32>load<u8>(b + j) >> 6) << 4);
            m = (<u32>load<u8>(b + 8 + j) >> 4) | ((<u32>load<u8>(b + 4 + j) >> 6) << 4);
          }
          store<u8>(o + vo(16 + (j << 2) + lane), <u8>sc);
          store<u8>(o + vo(48 + ((j >> 1) << 3) + (lane << 1) + (j & 1)), <u8>m);
        }
        const five = kind == KQ_Q5_K;
        if (five) for (let k: usize = 0; k < 8; k++) store<u32>(o + vo(80 + (k << 4) + (lane << 2)), load<u32>(b + 16 + (k << 2)));
        const qs: usize = five ? 208 : 80, src = b + (five ? 48 : 16);
        for (let k: usize = 0; k < 32; k++) store<u32>(o + vo(qs + (k << 4) + (lane << 2)), load<u32>(src + (k << 2)));
      }
    }
  }
}

/** Widen row r of a repacked K-quant matrix at w (q4_K / q5_K scales times 2^shift) to f32 at out, exactly as ggml's dequantize_row_q*_K. */
export function dequantRowK(w: usize, kind: i32, K: i32, r: i32, shift: i32, out: usize): void {
  const nsb = K >> 8, gb = kqGroupBytes(kind);
  const lane = <usize>(r & 3);
  const g = kqGroupAt(w, nsb, gb, r >> 2);
  for (let s = 0; s < nsb; s++) {
    const blk = g + <usize>s * (gb << 2);
    const o = out + (<usize>s << 10);
    if (kind == KQ_Q6_K) {
      const d = load<f32>(blk + vo(lane << 2));
      for (let w: usize = 0; w < 256; w++) {
        const q = <i32>getQ6(blk, lane, w) - 32;
        // d * sc * q in C's order: (d * sc) rounded, then * q.
        const j = w >> 4;
        store<f32>(o + (w << 2), (d * <f32>load<i8>(blk + vo(16 + ((j >> 1) << 3) + (lane << 1) + (j & 1)))) * <f32>q);
      }
      continue;
    }
    const five = kind == KQ_Q5_K;
    const unshift = <f32>1 / <f32>(1 << shift); // exact: a power of two, and the halves' values are normal floats
    const d = halfToF32(load<u16>(blk + vo(lane << 1))) * unshift, dmin = halfToF32(load<u16>(blk + vo(8 + (lane << 1)))) * unshift;
    const qs: usize = five ? 208 : 80;
    for (let j: usize = 0; j < 8; j++) {
      const d1 = d * <f32>load<u8>(blk + vo(16 + (j << 2) + lane));
      const m1 = dmin * <f32>load<u8>(blk + vo(48 + ((j >> 1) << 3) + (lane << 1) + (j & 1)));
      for (let l: usize = 0; l < 32; l++) {
        const at = ((l >> 2) << 4) + (lane << 2) + (l & 3);
        const byte = <u32>load<u8>(blk + vo(qs + ((j >> 1) << 7) + at));
        let q = (j & 1) ? byte >> 4 : byte & 15;
        if (five && ((<u32>load<u8>(blk + vo(80 + at)) >> <u32>j) & 1)) q += 16;
        store<f32>(o + (((j << 5) + l) << 2), d1 * <f32>q - m1);
      }
    }
  }
}

// i16x8 lane 2r + p = x[2p] · w[4r + 2p] + x[2p+1] · w[4r + 2p+1], x: 4 int8 activations broadcast, w: quant
// levels 0…63 (pmaddubsw in the relaxed build; the plain build widens to i16). Callers add at most 32767 /
// (2·127·max level) of these in i16 before widening a sum to i32 lanes (extadd: lane r = row r's sum):
// 8 for 4-bit, 4 for 5-bit, 2 for 6-bit levels. (V8 11.3's i32x4.relaxed_dot_i8x16_i7x16_add_s, which would
// sum the four into i32 lanes at once, returned wrong sums here.)
// @ts-ignore: decorator
@inline function dot16(x: v128, w: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i16x8.relaxed_dot_i8x16_i7x16_s(x, w);
  const lo = i16x8.extmul_low_i8x16_s(x, w), hi = i16x8.extmul_high_i8x16_s(x, w);
  return i16x8.add(v128.shuffle<i16>(lo, hi, 0, 2, 4, 6, 8, 10, 12, 14), v128.shuffle<i16>(lo, hi, 1, 3, 5, 7, 9, 11, 13, 15));
}

// Q, the K-quant kernels' type tag: u8 q4_K, u16 q5_K, u32 q6_K, and i8 / i16 / i32 the same with the four-token
// prefill tile in the dot-add form (matmul_quant.ts dotAdd): each step's levels dot-added into i32 row sums
// (i32x4.relaxed_dot_i8x16_i7x16_add_s, one vpdpbusd where the engine has it, for dot16's vpmaddubsw and an add),
// a phase's sums times the sub-block scales as i32 (i32x4.mul): the same integers as the i16 pair sums scaled by
// an i16 pair dot, so the same bits. The host takes them only where its probe finds them exact and faster.
// @ts-ignore: decorator
@inline function dotAddK<Q>(): bool { return ASC_FEATURE_RELAXED_SIMD && isSigned<Q>(); }

// One step of a sub-block's sums: a dot of 4 broadcast activations with 4 rows' levels, added.
// @ts-ignore: decorator
@inline function dotStep<Q>(acc: v128, x: v128, w: v128): v128 {
  if (dotAddK<Q>()) return i32x4.relaxed_dot_i8x16_i7x16_add_s(x, w, acc);
  return i16x8.add(acc, dot16(x, w));
}

// A phase's sums (acc) scaled by the sub-block scales sc ([sc_2c rows 0..3, sc_2c+1 rows 0..3], i16; hi: 2c+1), added to i.
// @ts-ignore: decorator
@inline function phaseSum<Q>(i: v128, acc: v128, sc: v128, hi: bool): v128 {
  if (dotAddK<Q>()) return i32x4.add(i, i32x4.mul(acc, hi ? i32x4.extend_high_i16x8_u(sc) : i32x4.extend_low_i16x8_u(sc)));
  return i32x4.add(i, i32x4.dot_i16x8_s(acc, hi ? scHi(sc) : scLo(sc)));
}

// i16-lane shift by a constant that may be negative (right).
// @ts-ignore: decorator
@inline function shift16(v: v128, s: i32): v128 {
  return s > 0 ? i16x8.shl(v, s) : s < 0 ? i16x8.shr_u(v, -s) : v;
}

/**
 * Run c (sub-blocks 2c and 2c+1) of a q4_K / q5_K group super-block at blk against the super-block's
 * activations x8: Σ_j sc_j · Σ x·q for the 4 rows, added to acc.
 */
// @ts-ignore: decorator
@inline function runQ45K(blk: usize, x8: usize, c: i32, five: bool, acc: v128, m15: v128, bit: v128): v128 {
  const q = blk + (five ? 832 : 320) + (<usize>c << 9), xa = x8 + (<usize>c << 6);
  let a = i32x4.splat(0), b = i32x4.splat(0), a16 = i16x8.splat(0), b16 = i16x8.splat(0);
  for (let i: usize = 0; i < 8; i++) {
    const v = v128.load(q + (i << 6));
    let lo = v128.and(v, m15), hi = v128.and(i16x8.shr_u(v, 4), m15);
    if (five) { // qh bit 2c (sub-block 2c) and 2c+1 moved to bit 4 of each byte
      const h = v128.load(blk + 320 + (i << 6));
      lo = v128.or(lo, v128.and(shift16(h, 4 - 2 * c), bit));
      hi = v128.or(hi, v128.and(shift16(h, 3 - 2 * c), bit));
    }
    a16 = i16x8.add(a16, dot16(v128.load32_splat(xa + (i << 2)), lo));
    b16 = i16x8.add(b16, dot16(v128.load32_splat(xa + 32 + (i << 2)), hi));
    if (five ? (i & 3) == 3 : i == 7) { // widen before the i16 sums can overflow
      a = i32x4.add(a, i32x4.extadd_pairwise_i16x8_s(a16)); b = i32x4.add(b, i32x4.extadd_pairwise_i16x8_s(b16));
      a16 = i16x8.splat(0); b16 = i16x8.splat(0);
    }
  }
  const sc = v128.load8x8_u(blk + vo(16 + (<usize>c << 3))); // [sc_2c rows 0..3, sc_2c+1 rows 0..3]
  return i32x4.add(acc, i32x4.add(i32x4.mul(a, i32x4.extend_low_i16x8_u(sc)), i32x4.mul(b, i32x4.extend_high_i16x8_u(sc))));
}

/** One q4_K / q5_K group super-block (4 rows) against one activation super-block: the 4 rows' f32 sums. */
// @ts-ignore: decorator
@inline function superQ45K(blk: usize, x8: usize, sums: usize, dxs: f32, five: bool, m15: v128, bit: v128): v128 {
  let acc = i32x4.splat(0);
  acc = runQ45K(blk, x8, 0, five, acc, m15, bit);
  acc = runQ45K(blk, x8, 1, five, acc, m15, bit);
  acc = runQ45K(blk, x8, 2, five, acc, m15, bit);
  acc = runQ45K(blk, x8, 3, five, acc, m15, bit);
  // Σ_j m_j · Σ x over sub-block j: mins as i16 pairs per row against the pair of activation sums.
  const mins = i32x4.add(
    i32x4.add(i32x4.dot_i16x8_s(v128.load8x8_u(blk, 192), v128.load32_splat(sums)), i32x4.dot_i16x8_s(v128.load8x8_u(blk, 200), v128.load32_splat(sums + 4))),
    i32x4.add(i32x4.dot_i16x8_s(v128.load8x8_u(blk, 256), v128.load32_splat(sums + 8)), i32x4.dot_i16x8_s(v128.load8x8_u(blk, 264), v128.load32_splat(sums + 12))));
  const dx = f32x4.splat(dxs);
  return f32x4.sub(f32x4.mul(f32x4.convert_i32x4_s(acc), f32x4.mul(halfBitsF32x4(blk, v128.load(HALF_CONSTS)), dx)),
    f32x4.mul(f32x4.convert_i32x4_s(mins), f32x4.mul(halfBitsF32x4(blk + 8, v128.load(HALF_CONSTS)), dx)));
}

// Level dots of a q6_K sub-block at v (its 3 vectors) against its 16 activations at x, as i16 pair sums of
// levels 0-7 (Lo: vectors 0, 1) or 8-15 (Hi: vectors 2, 3); a sum of two 6-bit dots fits i16, four would not.
// @ts-ignore: decorator
@inline function dotsQ6Hi(v: usize, x: usize, m63: v128, top: v128): v128 {
  const A = v128.load(v), B = v128.load(v, 64), C = v128.load(v, 128);
  // Level vector 3 from the top bits: A's to bits 0-1, B's to 2-3, C's to 4-5 (16-bit shifts move no set
  // bit across a byte: each shifted value has bits 0-1 of every byte clear).
  const l3 = i16x8.shr_u(v128.or(i16x8.shr_u(v128.or(i16x8.shr_u(v128.and(A, top), 2), v128.and(B, top)), 2), v128.and(C, top)), 2);
  return i16x8.add(dot16(v128.load32_splat(x, 8), v128.and(C, m63)), dot16(v128.load32_splat(x, 12), l3));
}
// @ts-ignore: decorator
@inline function dotsQ6Lo(v: usize, x: usize, m63: v128): v128 {
  return i16x8.add(dot16(v128.load32_splat(x), v128.and(v128.load(v), m63)), dot16(v128.load32_splat(x, 4), v128.and(v128.load(v, 64), m63)));
}

/**
 * Sub-blocks 2p, 2p + 1 of the q6_K group super-block at blk (levels of sub-block 2p at v) against their
 * activations x and sums of 16 at o, added to acc. One basic block a sub-block (the conditions always hold):
 * V8 hoists a block's loads ahead of its arithmetic, and both sub-blocks' loads at once spill.
 */
// @ts-ignore: decorator
@inline function pairQ6K(acc: v128, blk: usize, v: usize, x: usize, o: usize, p: usize, m63: v128, top: v128): v128 {
  const s = v128.load8x8_s(blk + vo(16 + (p << 3))); // row r: (sc_2p, sc_2p+1) in i16 lanes 2r, 2r+1
  acc = i32x4.sub(acc, i32x4.dot_i16x8_s(i16x8.shl(s, 5), v128.load32_splat(o))); // the levels are the weights + 32
  if (v != 0) {
    const s0 = v128.shuffle<i16>(s, s, 0, 0, 2, 2, 4, 4, 6, 6);
    acc = i32x4.add(acc, i32x4.add(i32x4.dot_i16x8_s(dotsQ6Lo(v, x, m63), s0), i32x4.dot_i16x8_s(dotsQ6Hi(v, x, m63, top), s0)));
  }
  if (x != 0) {
    const s1 = v128.shuffle<i16>(s, s, 1, 1, 3, 3, 5, 5, 7, 7);
    acc = i32x4.add(acc, i32x4.add(i32x4.dot_i16x8_s(dotsQ6Lo(v + 192, x + 16, m63), s1), i32x4.dot_i16x8_s(dotsQ6Hi(v + 192, x + 16, m63, top), s1)));
  }
  return acc;
}

/** One q6_K group super-block (4 rows) against one activation super-block (x8, its sums of 16 at s16). */
// @ts-ignore: decorator
@inline function superQ6K(blk: usize, x8: usize, s16: usize, dxs: f32, m63: v128, top: v128): v128 {
  let acc = i32x4.splat(0);
  let v = blk + 320, x = x8, o = s16;
  for (let p: usize = 0; p < 8; p++) { // pairs of sub-blocks 2p, 2p+1; the scale pair dots do the widening to i32
    acc = pairQ6K(acc, blk, v, x, o, p, m63, top);
    v += 384; x += 32; o += 4;
  }
  return f32x4.mul(f32x4.convert_i32x4_s(acc), f32x4.mul(v128.load(blk), f32x4.splat(dxs)));
}

// The weight type as a compile-time type argument, so each tile is compiled once per type with its super-block
// kernel inlined (one function over all three behind a switch spilled its vector registers): u8 = q4_K,
// u16 = q5_K, u32 = q6_K. c0, c1: the type's two byte masks (masksK), loaded once per call.
// @ts-ignore: decorator
@inline function superK<Q>(blk: usize, x8: usize, sums: usize, off: usize, dxs: f32, c0: v128, c1: v128): v128 {
  if (sizeof<Q>() == 1) return superQ45K(blk, x8, sums, dxs, false, c0, c1);
  if (sizeof<Q>() == 2) return superQ45K(blk, x8, sums, dxs, true, c0, c1);
  return superQ6K(blk, x8, off, dxs, c0, c1);
}

/** The byte masks of a type's levels, from BYTE_CONSTS: q4_K / q5_K 15 and 16 (the fifth bit), q6_K 63 and 0xc0. */
// @ts-ignore: decorator
@inline function mask0K<Q>(): v128 { return v128.load(BYTE_CONSTS + (sizeof<Q>() == 4 ? M63 : M15)); }
// @ts-ignore: decorator
@inline function mask1K<Q>(): v128 { return v128.load(BYTE_CONSTS + (sizeof<Q>() == 4 ? MTOP : M16)); }

// @ts-ignore: decorator
@inline function kindOf<Q>(): i32 { return sizeof<Q>() == 1 ? KQ_Q4_K : sizeof<Q>() == 2 ? KQ_Q5_K : KQ_Q6_K; }

/** One group (4 rows at g) against one activation row. */
function tile4K<Q>(x8: usize, dx: usize, sums: usize, off: usize, g: usize, nsb: i32): v128 {
  const gb = kqGroupBytes(kindOf<Q>()), c0 = mask0K<Q>(), c1 = mask1K<Q>();
  let acc = f32x4.splat(0);
  for (let s = 0; s < nsb; s++) {
    const e = <usize>s << 8;
    acc = f32x4.add(acc, superK<Q>(g + <usize>s * (gb << 2), x8 + e, sums + (e >> 4), off + (e >> 3), load<f32>(dx + (<usize>s << 2)), c0, c1));
  }
  return acc;
}

/**
 * q6_K decode: the four groups of a quad (16 rows) at g (kqGroupAt) a sub-block pair at a time, so the tile reads
 * the quad's interleaved groups as one sequential stream. One basic block a group (the conditions always hold):
 * V8 hoists a block's loads ahead of its arithmetic, and four groups' loads at once spill.
 */
function tile16Q6K(x8: usize, dx: usize, off: usize, g: usize, nsb: i32, out: usize): void {
  const m63 = v128.load(BYTE_CONSTS, M63), top = v128.load(BYTE_CONSTS, MTOP);
  let o0 = f32x4.splat(0), o1 = f32x4.splat(0), o2 = f32x4.splat(0), o3 = f32x4.splat(0);
  let blk = g, xs = x8, os = off;
  for (let s = 0; s < nsb; s++) {
    let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
    let v = blk + 320, x = xs, o = os;
    for (let p: usize = 0; p < 8; p++) {
      if (v != 1) a0 = pairQ6K(a0, blk, v, x, o, p, m63, top);
      if (v != 2) a1 = pairQ6K(a1, blk + 16, v + 16, x, o, p, m63, top);
      if (v != 3) a2 = pairQ6K(a2, blk + 32, v + 32, x, o, p, m63, top);
      if (v != 4) a3 = pairQ6K(a3, blk + 48, v + 48, x, o, p, m63, top);
      v += 384; x += 32; o += 4;
    }
    const d = f32x4.splat(load<f32>(dx + (<usize>s << 2)));
    o0 = f32x4.add(o0, f32x4.mul(f32x4.convert_i32x4_s(a0), f32x4.mul(v128.load(blk), d)));
    o1 = f32x4.add(o1, f32x4.mul(f32x4.convert_i32x4_s(a1), f32x4.mul(v128.load(blk, 16), d)));
    o2 = f32x4.add(o2, f32x4.mul(f32x4.convert_i32x4_s(a2), f32x4.mul(v128.load(blk, 32), d)));
    o3 = f32x4.add(o3, f32x4.mul(f32x4.convert_i32x4_s(a3), f32x4.mul(v128.load(blk, 48), d)));
    blk += 4 * 848; xs += 256; os += 32;
  }
  v128.store(out, o0); v128.store(out, o1, 16); v128.store(out, o2, 32); v128.store(out, o3, 48);
}

// Decode (T = 1) of q4_K / q5_K: the four groups of a quad (16 rows) at once, so each activation broadcast serves
// four weight vectors, which lie side by side (the quad's groups are interleaved by 16 bytes): one sequential
// stream. A step broadcasts an activation word (a load, no shuffle) and adds one i16 dot to each group's sum;
// a sub-block's sums are then scaled with its scales (one i16 pair dot). q4_K: one loop over the 4 runs c of
// 8 steps, each step dotting one vector of every group with both its low (sub-block 2c) and high nibbles
// (2c + 1), so each byte is loaded once and one loop's loads walk the stream with a fixed stride; q5_K: each
// phase (run c, low or high nibbles) two loops of 4 steps (scripts/gen_steps.mjs writes the runs out: the
// fifth bit's shift is a literal each). Loops rather than straight steps: the unrolled super-block (1,900
// instructions a trip, one basic block a step) read q4_K from DRAM at 40 % of the in-cache rate on an AMD EPYC
// (8.5 against 21 GB/s, 1 thread); these loops read it at 75-85 %.

// Quant levels of one vector v (low or high nibbles), with q5_K's fifth bit from h shifted by hs.
// @ts-ignore: decorator
@inline function lv45(v: v128, h: v128, hi: bool, five: bool, hs: i32, m15: v128, bit: v128): v128 {
  const l = hi ? v128.and(i16x8.shr_u(v, 4), m15) : v128.and(v, m15);
  return five ? v128.or(l, v128.and(shift16(h, hs), bit)) : l;
}

// [sc_2c rows 0..3, sc_2c+1 rows 0..3] (i16) -> each row's scale of sub-block 2c (Lo) or 2c+1 (Hi) twice.
// @ts-ignore: decorator
@inline function scLo(sc: v128): v128 { return v128.shuffle<i16>(sc, sc, 0, 0, 1, 1, 2, 2, 3, 3); }
// @ts-ignore: decorator
@inline function scHi(sc: v128): v128 { return v128.shuffle<i16>(sc, sc, 4, 4, 5, 5, 6, 6, 7, 7); }

// A group super-block's (at p) f32 sums from its scaled dots a and the activation sums s0..s3 (pairs of sub-blocks).
// @ts-ignore: decorator
@inline function fin45(p: usize, a: v128, s0: v128, s1: v128, s2: v128, s3: v128, dxv: v128): v128 {
  const mins = i32x4.add(
    i32x4.add(i32x4.dot_i16x8_s(v128.load8x8_u(p, 192), s0), i32x4.dot_i16x8_s(v128.load8x8_u(p, 200), s1)),
    i32x4.add(i32x4.dot_i16x8_s(v128.load8x8_u(p, 256), s2), i32x4.dot_i16x8_s(v128.load8x8_u(p, 264), s3)));
  return f32x4.sub(f32x4.mul(f32x4.convert_i32x4_s(a), f32x4.mul(halfBitsF32x4(p, v128.load(HALF_CONSTS)), dxv)),
    f32x4.mul(f32x4.convert_i32x4_s(mins), f32x4.mul(halfBitsF32x4(p + 8, v128.load(HALF_CONSTS)), dxv)));
}

/** Decode: a quad of q4_K (five = false) / q5_K groups (16 rows) at g against one activation row -> out[0..16). */
// @ts-ignore: decorator
@inline function tile16Q45K(x8: usize, dx: usize, sums: usize, g: usize, nsb: i32, out: usize, five: bool): void {
  const m15 = v128.load(BYTE_CONSTS, M15), bit = v128.load(BYTE_CONSTS, M16);
  const end = g + <usize>nsb * (five ? 4 * 720 : 4 * 592);
  let p = g, xs = x8;
  // The row sums accumulate in out (f32 adds in the same order): four fewer vectors live across the phase loops.
  v128.store(out, f32x4.splat(0)); v128.store(out, f32x4.splat(0), 16); v128.store(out, f32x4.splat(0), 32); v128.store(out, f32x4.splat(0), 48);
  do {
    let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
    if (five) {
      // BEGIN q5_K runs (scripts/gen_steps.mjs)
      { // run 0
        const q = p + 832, x = xs + 0;
        for (let k: usize = 0; k < 8; k += 4) { // low nibbles: sub-block 0, steps k … k + 3
          let s0 = i16x8.splat(0), s1 = s0, s2 = s0, s3 = s0;
          for (let i = k; i < k + 4; i++) {
            const xb = v128.load32_splat(x + (i << 2)), v = q + (i << 6), h = p + 320 + (i << 6);
            s0 = i16x8.add(s0, dot16(xb, lv45(v128.load(v), v128.load(h), false, true, 4, m15, bit)));
            s1 = i16x8.add(s1, dot16(xb, lv45(v128.load(v, 16), v128.load(h, 16), false, true, 4, m15, bit)));
            s2 = i16x8.add(s2, dot16(xb, lv45(v128.load(v, 32), v128.load(h, 32), false, true, 4, m15, bit)));
            s3 = i16x8.add(s3, dot16(xb, lv45(v128.load(v, 48), v128.load(h, 48), false, true, 4, m15, bit)));
          }
          a0 = i32x4.add(a0, i32x4.dot_i16x8_s(s0, scLo(v128.load8x8_u(p, 64))));
          a1 = i32x4.add(a1, i32x4.dot_i16x8_s(s1, scLo(v128.load8x8_u(p, 80))));
          a2 = i32x4.add(a2, i32x4.dot_i16x8_s(s2, scLo(v128.load8x8_u(p, 96))));
          a3 = i32x4.add(a3, i32x4.dot_i16x8_s(s3, scLo(v128.load8x8_u(p, 112))));
        }
        for (let k: usize = 0; k < 8; k += 4) { // high nibbles: sub-block 1, steps k … k + 3
          let s0 = i16x8.splat(0), s1 = s0, s2 = s0, s3 = s0;
          for (let i = k; i < k + 4; i++) {
            const xb = v128.load32_splat(x + (i << 2), 32), v = q + (i << 6), h = p + 320 + (i << 6);
            s0 = i16x8.add(s0, dot16(xb, lv45(v128.load(v), v128.load(h), true, true, 3, m15, bit)));
            s1 = i16x8.add(s1, dot16(xb, lv45(v128.load(v, 16), v128.load(h, 16), true, true, 3, m15, bit)));
            s2 = i16x8.add(s2, dot16(xb, lv45(v128.load(v, 32), v128.load(h, 32), true, true, 3, m15, bit)));
            s3 = i16x8.add(s3, dot16(xb, lv45(v128.load(v, 48), v128.load(h, 48), true, true, 3, m15, bit)));
          }
          a0 = i32x4.add(a0, i32x4.dot_i16x8_s(s0, scHi(v128.load8x8_u(p, 64))));
          a1 = i32x4.add(a1, i32x4.dot_i16x8_s(s1, scHi(v128.load8x8_u(p, 80))));
          a2 = i32x4.add(a2, i32x4.dot_i16x8_s(s2, scHi(v128.load8x8_u(p, 96))));
          a3 = i32x4.add(a3, i32x4.dot_i16x8_s(s3, scHi(v128.load8x8_u(p, 112))));
        }
      }
      { // run 1
        const q = p + 1344, x = xs + 64;
        for (let k: usize = 0; k < 8; k += 4) { // low nibbles: sub-block 2, steps k … k + 3
          let s0 = i16x8.splat(0), s1 = s0, s2 = s0, s3 = s0;
          for (let i = k; i < k + 4; i++) {
            const xb = v128.load32_splat(x + (i << 2)), v = q + (i << 6), h = p + 320 + (i << 6);
            s0 = i16x8.add(s0, dot16(xb, lv45(v128.load(v), v128.load(h), false, true, 2, m15, bit)));
            s1 = i16x8.add(s1, dot16(xb, lv45(v128.load(v, 16), v128.load(h, 16), false, true, 2, m15, bit)));
            s2 = i16x8.add(s2, dot16(xb, lv45(v128.load(v, 32), v128.load(h, 32), false, true, 2, m15, bit)));
            s3 = i16x8.add(s3, dot16(xb, lv45(v128.load(v, 48), v128.load(h, 48), false, true, 2, m15, bit)));
          }
          a0 = i32x4.add(a0, i32x4.dot_i16x8_s(s0, scLo(v128.load8x8_u(p, 72))));
          a1 = i32x4.add(a1, i32x4.dot_i16x8_s(s1, scLo(v128.load8x8_u(p, 88))));
          a2 = i32x4.add(a2, i32x4.dot_i16x8_s(s2, scLo(v128.load8x8_u(p, 104))));
          a3 = i32x4.add(a3, i32x4.dot_i16x8_s(s3, scLo(v128.load8x8_u(p, 120))));
        }
        for (let k: usize = 0; k < 8; k += 4) { // high nibbles: sub-block 3, steps k … k + 3
          let s0 = i16x8.splat(0), s1 = s0, s2 = s0, s3 = s0;
          for (let i = k; i < k + 4; i++) {
            const xb = v128.load32_splat(x + (i << 2), 32), v = q + (i << 6), h = p + 320 + (i << 6);
            s0 = i16x8.add(s0, dot16(xb, lv45(v128.load(v), v128.load(h), true, true, 1, m15, bit)));
            s1 = i16x8.add(s1, dot16(xb, lv45(v128.load(v, 16), v128.load(h, 16), true, true, 1, m15, bit)));
            s2 = i16x8.add(s2, dot16(xb, lv45(v128.load(v, 32), v128.load(h, 32), true, true, 1, m15, bit)));
            s3 = i16x8.add(s3, dot16(xb, lv45(v128.load(v, 48), v128.load(h, 48), true, true, 1, m15, bit)));
          }
          a0 = i32x4.add(a0, i32x4.dot_i16x8_s(s0, scHi(v128.load8x8_u(p, 72))));
          a1 = i32x4.add(a1, i32x4.dot_i16x8_s(s1, scHi(v128.load8x8_u(p, 88))));
          a2 = i32x4.add(a2, i32x4.dot_i16x8_s(s2, scHi(v128.load8x8_u(p, 104))));
          a3 = i32x4.add(a3, i32x4.dot_i16x8_s(s3, scHi(v128.load8x8_u(p, 120))));
        }
      }
      { // run 2
        const q = p + 1856, x = xs + 128;
        for (let k: usize = 0; k < 8; k += 4) { // low nibbles: sub-block 4, steps k … k + 3
          let s0 = i16x8.splat(0), s1 = s0, s2 = s0, s3 = s0;
          for (let i = k; i < k + 4; i++) {
            const xb = v128.load32_splat(x + (i << 2)), v = q + (i << 6), h = p + 320 + (i << 6);
            s0 = i16x8.add(s0, dot16(xb, lv45(v128.load(v), v128.load(h), false, true, 0, m15, bit)));
            s1 = i16x8.add(s1, dot16(xb, lv45(v128.load(v, 16), v128.load(h, 16), false, true, 0, m15, bit)));
            s2 = i16x8.add(s2, dot16(xb, lv45(v128.load(v, 32), v128.load(h, 32), false, true, 0, m15, bit)));
            s3 = i16x8.add(s3, dot16(xb, lv45(v128.load(v, 48), v128.load(h, 48), false, true, 0, m15, bit)));
          }
          a0 = i32x4.add(a0, i32x4.dot_i16x8_s(s0, scLo(v128.load8x8_u(p, 128))));
          a1 = i32x4.add(a1, i32x4.dot_i16x8_s(s1, scLo(v128.load8x8_u(p, 144))));
          a2 = i32x4.add(a2, i32x4.dot_i16x8_s(s2, scLo(v128.load8x8_u(p, 160))));
          a3 = i32x4.add(a3, i32x4.dot_i16x8_s(s3, scLo(v128.load8x8_u(p, 176))));
        }
        for (let k: usize = 0; k < 8; k += 4) { // high nibbles: sub-block 5, steps k … k + 3
          let s0 = i16x8.splat(0), s1 = s0, s2 = s0, s3 = s0;
          for (let i = k; i < k + 4; i++) {
            const xb = v128.load32_splat(x + (i << 2), 32), v = q + (i << 6), h = p + 320 + (i << 6);
            s0 = i16x8.add(s0, dot16(xb, lv45(v128.load(v), v128.load(h), true, true, -1, m15, bit)));
            s1 = i16x8.add(s1, dot16(xb, lv45(v128.load(v, 16), v128.load(h, 16), true, true, -1, m15, bit)));
            s2 = i16x8.add(s2, dot16(xb, lv45(v128.load(v, 32), v128.load(h, 32), true, true, -1, m15, bit)));
            s3 = i16x8.add(s3, dot16(xb, lv45(v128.load(v, 48), v128.load(h, 48), true, true, -1, m15, bit)));
          }
          a0 = i32x4.add(a0, i32x4.dot_i16x8_s(s0, scHi(v128.load8x8_u(p, 128))));
          a1 = i32x4.add(a1, i32x4.dot_i16x8_s(s1, scHi(v128.load8x8_u(p, 144))));
          a2 = i32x4.add(a2, i32x4.dot_i16x8_s(s2, scHi(v128.load8x8_u(p, 160))));
          a3 = i32x4.add(a3, i32x4.dot_i16x8_s(s3, scHi(v128.load8x8_u(p, 176))));
        }
      }
      { // run 3
        const q = p + 2368, x = xs + 192;
        for (let k: usize = 0; k < 8; k += 4) { // low nibbles: sub-block 6, steps k … k + 3
          let s0 = i16x8.splat(0), s1 = s0, s2 = s0, s3 = s0;
          for (let i = k; i < k + 4; i++) {
            const xb = v128.load32_splat(x + (i << 2)), v = q + (i << 6), h = p + 320 + (i << 6);
            s0 = i16x8.add(s0, dot16(xb, lv45(v128.load(v), v128.load(h), false, true, -2, m15, bit)));
            s1 = i16x8.add(s1, dot16(xb, lv45(v128.load(v, 16), v128.load(h, 16), false, true, -2, m15, bit)));
            s2 = i16x8.add(s2, dot16(xb, lv45(v128.load(v, 32), v128.load(h, 32), false, true, -2, m15, bit)));
            s3 = i16x8.add(s3, dot16(xb, lv45(v128.load(v, 48), v128.load(h, 48), false, true, -2, m15, bit)));
          }
          a0 = i32x4.add(a0, i32x4.dot_i16x8_s(s0, scLo(v128.load8x8_u(p, 136))));
          a1 = i32x4.add(a1, i32x4.dot_i16x8_s(s1, scLo(v128.load8x8_u(p, 152))));
          a2 = i32x4.add(a2, i32x4.dot_i16x8_s(s2, scLo(v128.load8x8_u(p, 168))));
          a3 = i32x4.add(a3, i32x4.dot_i16x8_s(s3, scLo(v128.load8x8_u(p, 184))));
        }
        for (let k: usize = 0; k < 8; k += 4) { // high nibbles: sub-block 7, steps k … k + 3
          let s0 = i16x8.splat(0), s1 = s0, s2 = s0, s3 = s0;
          for (let i = k; i < k + 4; i++) {
            const xb = v128.load32_splat(x + (i << 2), 32), v = q + (i << 6), h = p + 320 + (i << 6);
            s0 = i16x8.add(s0, dot16(xb, lv45(v128.load(v), v128.load(h), true, true, -3, m15, bit)));
            s1 = i16x8.add(s1, dot16(xb, lv45(v128.load(v, 16), v128.load(h, 16), true, true, -3, m15, bit)));
            s2 = i16x8.add(s2, dot16(xb, lv45(v128.load(v, 32), v128.load(h, 32), true, true, -3, m15, bit)));
            s3 = i16x8.add(s3, dot16(xb, lv45(v128.load(v, 48), v128.load(h, 48), true, true, -3, m15, bit)));
          }
          a0 = i32x4.add(a0, i32x4.dot_i16x8_s(s0, scHi(v128.load8x8_u(p, 136))));
          a1 = i32x4.add(a1, i32x4.dot_i16x8_s(s1, scHi(v128.load8x8_u(p, 152))));
          a2 = i32x4.add(a2, i32x4.dot_i16x8_s(s2, scHi(v128.load8x8_u(p, 168))));
          a3 = i32x4.add(a3, i32x4.dot_i16x8_s(s3, scHi(v128.load8x8_u(p, 184))));
        }
      }
      // END q5_K runs
    } else {
      for (let c: usize = 0; c < 4; c++) { // run c: sub-blocks 2c, 2c + 1
        const q = p + 320 + (c << 9), x = xs + (c << 6);
        let l0 = i16x8.splat(0), l1 = l0, l2 = l0, l3 = l0, h0 = l0, h1 = l0, h2 = l0, h3 = l0;
        for (let i: usize = 0; i < 8; i++) {
          const xl = v128.load32_splat(x + (i << 2)), xh = v128.load32_splat(x + (i << 2), 32), v = q + (i << 6);
          { const w = v128.load(v); l0 = i16x8.add(l0, dot16(xl, v128.and(w, m15))); h0 = i16x8.add(h0, dot16(xh, v128.and(i16x8.shr_u(w, 4), m15))); }
          { const w = v128.load(v, 16); l1 = i16x8.add(l1, dot16(xl, v128.and(w, m15))); h1 = i16x8.add(h1, dot16(xh, v128.and(i16x8.shr_u(w, 4), m15))); }
          { const w = v128.load(v, 32); l2 = i16x8.add(l2, dot16(xl, v128.and(w, m15))); h2 = i16x8.add(h2, dot16(xh, v128.and(i16x8.shr_u(w, 4), m15))); }
          { const w = v128.load(v, 48); l3 = i16x8.add(l3, dot16(xl, v128.and(w, m15))); h3 = i16x8.add(h3, dot16(xh, v128.and(i16x8.shr_u(w, 4), m15))); }
        }
        const sp = p + 64 + ((c >> 1) << 6) + ((c & 1) << 3);
        { const sc = v128.load8x8_u(sp); a0 = i32x4.add(a0, i32x4.add(i32x4.dot_i16x8_s(l0, scLo(sc)), i32x4.dot_i16x8_s(h0, scHi(sc)))); }
        { const sc = v128.load8x8_u(sp, 16); a1 = i32x4.add(a1, i32x4.add(i32x4.dot_i16x8_s(l1, scLo(sc)), i32x4.dot_i16x8_s(h1, scHi(sc)))); }
        { const sc = v128.load8x8_u(sp, 32); a2 = i32x4.add(a2, i32x4.add(i32x4.dot_i16x8_s(l2, scLo(sc)), i32x4.dot_i16x8_s(h2, scHi(sc)))); }
        { const sc = v128.load8x8_u(sp, 48); a3 = i32x4.add(a3, i32x4.add(i32x4.dot_i16x8_s(l3, scLo(sc)), i32x4.dot_i16x8_s(h3, scHi(sc)))); }
      }
    }
    // Σ_j m_j · Σ x over sub-block j: the mins as i16 pairs per row against the pair of activation sums.
    const e = xs - x8, ss = sums + (e >> 4);
    const m0 = v128.load32_splat(ss), m1 = v128.load32_splat(ss, 4), m2 = v128.load32_splat(ss, 8), m3 = v128.load32_splat(ss, 12);
    const dxv = v128.load32_splat(dx + (e >> 6));
    v128.store(out, f32x4.add(v128.load(out), fin45(p, a0, m0, m1, m2, m3, dxv)));
    v128.store(out, f32x4.add(v128.load(out, 16), fin45(p + 16, a1, m0, m1, m2, m3, dxv)), 16);
    v128.store(out, f32x4.add(v128.load(out, 32), fin45(p + 32, a2, m0, m1, m2, m3, dxv)), 32);
    v128.store(out, f32x4.add(v128.load(out, 48), fin45(p + 48, a3, m0, m1, m2, m3, dxv)), 48);
    p += five ? 4 * 720 : 4 * 592; xs += 256;
  } while (p != end);
}

function tile16Q4K(x8: usize, dx: usize, sums: usize, g: usize, nsb: i32, out: usize): void {
  tile16Q45K(x8, dx, sums, g, nsb, out, false);
}

/**
 * A batched step of two activation rows (x8 and x8 + K, their dx, sums a super-block row apart) against a quad of
 * q4_K groups at g -> oa[0..16), ob[0..16): tile16Q45K's sums for both rows, each quant vector loaded and unpacked
 * once for the two (low nibbles, then high, a loop each), where the decode tile once per row unpacks it twice.
 */
function tile16Q4K2(x8: usize, dx: usize, sums: usize, K: usize, g: usize, nsb: i32, oa: usize, ob: usize): void {
  const m15 = v128.load(BYTE_CONSTS, M15);
  const end = g + <usize>nsb * (4 * 592), db = <usize>nsb << 2, sb = K >> 4;
  let p = g, xs = x8;
  v128.store(oa, f32x4.splat(0)); v128.store(oa, f32x4.splat(0), 16); v128.store(oa, f32x4.splat(0), 32); v128.store(oa, f32x4.splat(0), 48);
  v128.store(ob, f32x4.splat(0)); v128.store(ob, f32x4.splat(0), 16); v128.store(ob, f32x4.splat(0), 32); v128.store(ob, f32x4.splat(0), 48);
  do {
    let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
    let b0 = i32x4.splat(0), b1 = i32x4.splat(0), b2 = i32x4.splat(0), b3 = i32x4.splat(0);
    for (let c: usize = 0; c < 4; c++) { // run c: sub-blocks 2c (low nibbles), 2c + 1 (high)
      const q = p + 320 + (c << 9), x = xs + (c << 6), sp = p + 64 + ((c >> 1) << 6) + ((c & 1) << 3);
      {
        let s0 = i16x8.splat(0), s1 = s0, s2 = s0, s3 = s0, t0 = s0, t1 = s0, t2 = s0, t3 = s0;
        for (let i: usize = 0; i < 8; i++) {
          const xa = v128.load32_splat(x + (i << 2)), xb = v128.load32_splat(x + K + (i << 2)), v = q + (i << 6);
          { const w = v128.and(v128.load(v), m15); s0 = i16x8.add(s0, dot16(xa, w)); t0 = i16x8.add(t0, dot16(xb, w)); }
          { const w = v128.and(v128.load(v, 16), m15); s1 = i16x8.add(s1, dot16(xa, w)); t1 = i16x8.add(t1, dot16(xb, w)); }
          { const w = v128.and(v128.load(v, 32), m15); s2 = i16x8.add(s2, dot16(xa, w)); t2 = i16x8.add(t2, dot16(xb, w)); }
          { const w = v128.and(v128.load(v, 48), m15); s3 = i16x8.add(s3, dot16(xa, w)); t3 = i16x8.add(t3, dot16(xb, w)); }
        }
        { const sc = scLo(v128.load8x8_u(sp)); a0 = i32x4.add(a0, i32x4.dot_i16x8_s(s0, sc)); b0 = i32x4.add(b0, i32x4.dot_i16x8_s(t0, sc)); }
        { const sc = scLo(v128.load8x8_u(sp, 16)); a1 = i32x4.add(a1, i32x4.dot_i16x8_s(s1, sc)); b1 = i32x4.add(b1, i32x4.dot_i16x8_s(t1, sc)); }
        { const sc = scLo(v128.load8x8_u(sp, 32)); a2 = i32x4.add(a2, i32x4.dot_i16x8_s(s2, sc)); b2 = i32x4.add(b2, i32x4.dot_i16x8_s(t2, sc)); }
        { const sc = scLo(v128.load8x8_u(sp, 48)); a3 = i32x4.add(a3, i32x4.dot_i16x8_s(s3, sc)); b3 = i32x4.add(b3, i32x4.dot_i16x8_s(t3, sc)); }
      }
      {
        let s0 = i16x8.splat(0), s1 = s0, s2 = s0, s3 = s0, t0 = s0, t1 = s0, t2 = s0, t3 = s0;
        for (let i: usize = 0; i < 8; i++) {
          const xa = v128.load32_splat(x + (i << 2), 32), xb = v128.load32_splat(x + K + (i << 2), 32), v = q + (i << 6);
          { const w = v128.and(i16x8.shr_u(v128.load(v), 4), m15); s0 = i16x8.add(s0, dot16(xa, w)); t0 = i16x8.add(t0, dot16(xb, w)); }
          { const w = v128.and(i16x8.shr_u(v128.load(v, 16), 4), m15); s1 = i16x8.add(s1, dot16(xa, w)); t1 = i16x8.add(t1, dot16(xb, w)); }
          { const w = v128.and(i16x8.shr_u(v128.load(v, 32), 4), m15); s2 = i16x8.add(s2, dot16(xa, w)); t2 = i16x8.add(t2, dot16(xb, w)); }
          { const w = v128.and(i16x8.shr_u(v128.load(v, 48), 4), m15); s3 = i16x8.add(s3, dot16(xa, w)); t3 = i16x8.add(t3, dot16(xb, w)); }
        }
        { const sc = scHi(v128.load8x8_u(sp)); a0 = i32x4.add(a0, i32x4.dot_i16x8_s(s0, sc)); b0 = i32x4.add(b0, i32x4.dot_i16x8_s(t0, sc)); }
        { const sc = scHi(v128.load8x8_u(sp, 16)); a1 = i32x4.add(a1, i32x4.dot_i16x8_s(s1, sc)); b1 = i32x4.add(b1, i32x4.dot_i16x8_s(t1, sc)); }
        { const sc = scHi(v128.load8x8_u(sp, 32)); a2 = i32x4.add(a2, i32x4.dot_i16x8_s(s2, sc)); b2 = i32x4.add(b2, i32x4.dot_i16x8_s(t2, sc)); }
        { const sc = scHi(v128.load8x8_u(sp, 48)); a3 = i32x4.add(a3, i32x4.dot_i16x8_s(s3, sc)); b3 = i32x4.add(b3, i32x4.dot_i16x8_s(t3, sc)); }
      }
    }
    const e = xs - x8, sa = sums + (e >> 4), da = dx + (e >> 6);
    {
      const m0 = v128.load32_splat(sa), m1 = v128.load32_splat(sa, 4), m2 = v128.load32_splat(sa, 8), m3 = v128.load32_splat(sa, 12);
      const dxv = v128.load32_splat(da);
      v128.store(oa, f32x4.add(v128.load(oa), fin45(p, a0, m0, m1, m2, m3, dxv)));
      v128.store(oa, f32x4.add(v128.load(oa, 16), fin45(p + 16, a1, m0, m1, m2, m3, dxv)), 16);
      v128.store(oa, f32x4.add(v128.load(oa, 32), fin45(p + 32, a2, m0, m1, m2, m3, dxv)), 32);
      v128.store(oa, f32x4.add(v128.load(oa, 48), fin45(p + 48, a3, m0, m1, m2, m3, dxv)), 48);
    }
    {
      const s = sa + sb, m0 = v128.load32_splat(s), m1 = v128.load32_splat(s, 4), m2 = v128.load32_splat(s, 8), m3 = v128.load32_splat(s, 12);
      const dxv = v128.load32_splat(da + db);
      v128.store(ob, f32x4.add(v128.load(ob), fin45(p, b0, m0, m1, m2, m3, dxv)));
      v128.store(ob, f32x4.add(v128.load(ob, 16), fin45(p + 16, b1, m0, m1, m2, m3, dxv)), 16);
      v128.store(ob, f32x4.add(v128.load(ob, 32), fin45(p + 32, b2, m0, m1, m2, m3, dxv)), 32);
      v128.store(ob, f32x4.add(v128.load(ob, 48), fin45(p + 48, b3, m0, m1, m2, m3, dxv)), 48);
    }
    p += 4 * 592; xs += 256;
  } while (p != end);
}

function tile16Q5K(x8: usize, dx: usize, sums: usize, g: usize, nsb: i32, out: usize): void {
  tile16Q45K(x8, dx, sums, g, nsb, out, true);
}

const TB = 16;

// Prefill of q4_K / q5_K: one group (4 rows) against two activation rows (xa, xa + K) at once, so each quant
// vector's unpacking (mask, shift, q5_K's fifth bit) serves two tokens. The i16 level sums of a run's
// sub-block pair are scaled and widened by one i16 pair dot with the sub-block scales (lanes 2r, 2r+1 are
// row r), as in decode, so no i32 partial sums are kept; q5_K's levels (up to 31) close a phase every 4
// steps before an i16 sum can overflow, q4_K's every 8. Rows past n1 are not stored.
function tile4K2Q45<Q>(x8: usize, dx: usize, sums: usize, K: i32, g: usize, nsb: i32, oa: usize, ob: usize, nOut: i32): void {
  const five = sizeof<Q>() == 2; // u8: q4_K, u16: q5_K (compile-time, so each is its own straight loop)
  const GB: usize = five ? 720 : 592, m15 = v128.load(BYTE_CONSTS, M15), bit = v128.load(BYTE_CONSTS, M16);
  const xbOff = <usize>K, sbOff = <usize>(K >> 4), dbOff = <usize>nsb << 2;
  let fa = f32x4.splat(0), fb = f32x4.splat(0);
  for (let s = 0; s < nsb; s++) {
    const blk = g + <usize>s * 4 * GB, e = <usize>s << 8;
    let ia = i32x4.splat(0), ib = i32x4.splat(0);
    for (let c = 0; c < 4; c++) {
      const q = blk + (five ? 832 : 320) + (<usize>c << 9), xa = x8 + e + (<usize>c << 6), xb = xa + xbOff;
      let a16 = i16x8.splat(0), b16 = i16x8.splat(0), c16 = i16x8.splat(0), d16 = i16x8.splat(0);
      for (let j: usize = 0; j < 2; j++) { // quads of steps: 4 quant vectors against one x vector per stream
        const qv = q + (j << 8), hv = blk + 320 + (j << 8), xo = j << 4;
        const xal = v128.load(xa + xo), xah = v128.load(xa + xo, 32), xbl = v128.load(xb + xo), xbh = v128.load(xb + xo, 32);
        // Each step its own basic block (qv >= 1024: the conditions always hold), or V8 hoists all four steps'
        // loads and unpacking ahead of their dots and spills them.
        // BEGIN prefill quad steps (scripts/gen_steps.mjs)
        if (qv != 1) { // step 0
          const v = v128.load(qv), h = five ? v128.load(hv) : v;
          const lo = lv45(v, h, false, five, 4 - 2 * c, m15, bit), hi = lv45(v, h, true, five, 3 - 2 * c, m15, bit);
          a16 = i16x8.add(a16, dot16(i32x4.shuffle(xal, xal, 0, 0, 0, 0), lo));
          b16 = i16x8.add(b16, dot16(i32x4.shuffle(xah, xah, 0, 0, 0, 0), hi));
          c16 = i16x8.add(c16, dot16(i32x4.shuffle(xbl, xbl, 0, 0, 0, 0), lo));
          d16 = i16x8.add(d16, dot16(i32x4.shuffle(xbh, xbh, 0, 0, 0, 0), hi));
        }
        if (qv != 2) { // step 1
          const v = v128.load(qv, 64), h = five ? v128.load(hv, 64) : v;
          const lo = lv45(v, h, false, five, 4 - 2 * c, m15, bit), hi = lv45(v, h, true, five, 3 - 2 * c, m15, bit);
          a16 = i16x8.add(a16, dot16(i32x4.shuffle(xal, xal, 1, 1, 1, 1), lo));
          b16 = i16x8.add(b16, dot16(i32x4.shuffle(xah, xah, 1, 1, 1, 1), hi));
          c16 = i16x8.add(c16, dot16(i32x4.shuffle(xbl, xbl, 1, 1, 1, 1), lo));
          d16 = i16x8.add(d16, dot16(i32x4.shuffle(xbh, xbh, 1, 1, 1, 1), hi));
        }
        if (qv != 3) { // step 2
          const v = v128.load(qv, 128), h = five ? v128.load(hv, 128) : v;
          const lo = lv45(v, h, false, five, 4 - 2 * c, m15, bit), hi = lv45(v, h, true, five, 3 - 2 * c, m15, bit);
          a16 = i16x8.add(a16, dot16(i32x4.shuffle(xal, xal, 2, 2, 2, 2), lo));
          b16 = i16x8.add(b16, dot16(i32x4.shuffle(xah, xah, 2, 2, 2, 2), hi));
          c16 = i16x8.add(c16, dot16(i32x4.shuffle(xbl, xbl, 2, 2, 2, 2), lo));
          d16 = i16x8.add(d16, dot16(i32x4.shuffle(xbh, xbh, 2, 2, 2, 2), hi));
        }
        if (qv != 4) { // step 3
          const v = v128.load(qv, 192), h = five ? v128.load(hv, 192) : v;
          const lo = lv45(v, h, false, five, 4 - 2 * c, m15, bit), hi = lv45(v, h, true, five, 3 - 2 * c, m15, bit);
          a16 = i16x8.add(a16, dot16(i32x4.shuffle(xal, xal, 3, 3, 3, 3), lo));
          b16 = i16x8.add(b16, dot16(i32x4.shuffle(xah, xah, 3, 3, 3, 3), hi));
          c16 = i16x8.add(c16, dot16(i32x4.shuffle(xbl, xbl, 3, 3, 3, 3), lo));
          d16 = i16x8.add(d16, dot16(i32x4.shuffle(xbh, xbh, 3, 3, 3, 3), hi));
        }
        // END prefill quad steps
        if (five || j == 1) { // a phase ends: scale by the sub-block scales, widening to i32
          const sc = v128.load8x8_u(blk + vo(16 + (<usize>c << 3))); // [sc_2c rows 0..3, sc_2c+1 rows 0..3]
          const sl = scLo(sc), sh = scHi(sc);
          ia = i32x4.add(ia, i32x4.add(i32x4.dot_i16x8_s(a16, sl), i32x4.dot_i16x8_s(b16, sh)));
          ib = i32x4.add(ib, i32x4.add(i32x4.dot_i16x8_s(c16, sl), i32x4.dot_i16x8_s(d16, sh)));
          a16 = i16x8.splat(0); b16 = i16x8.splat(0); c16 = i16x8.splat(0); d16 = i16x8.splat(0);
        }
      }
    }
    // Σ_j m_j · Σ x over sub-block j, per token: mins as i16 pairs per row against the pairs of activation sums.
    const m0 = v128.load8x8_u(blk, 192), m1 = v128.load8x8_u(blk, 200), m2 = v128.load8x8_u(blk, 256), m3 = v128.load8x8_u(blk, 264);
    const sa = sums + (e >> 4), sb = sa + sbOff;
    const mina = i32x4.add(i32x4.add(i32x4.dot_i16x8_s(m0, v128.load32_splat(sa)), i32x4.dot_i16x8_s(m1, v128.load32_splat(sa + 4))),
      i32x4.add(i32x4.dot_i16x8_s(m2, v128.load32_splat(sa + 8)), i32x4.dot_i16x8_s(m3, v128.load32_splat(sa + 12))));
    const minb = i32x4.add(i32x4.add(i32x4.dot_i16x8_s(m0, v128.load32_splat(sb)), i32x4.dot_i16x8_s(m1, v128.load32_splat(sb + 4))),
      i32x4.add(i32x4.dot_i16x8_s(m2, v128.load32_splat(sb + 8)), i32x4.dot_i16x8_s(m3, v128.load32_splat(sb + 12))));
    const d = halfBitsF32x4(blk, v128.load(HALF_CONSTS)), dm = halfBitsF32x4(blk + 8, v128.load(HALF_CONSTS));
    const da = f32x4.splat(load<f32>(dx + (<usize>s << 2))), db = f32x4.splat(load<f32>(dx + dbOff + (<usize>s << 2)));
    fa = f32x4.add(fa, f32x4.sub(f32x4.mul(f32x4.convert_i32x4_s(ia), f32x4.mul(d, da)), f32x4.mul(f32x4.convert_i32x4_s(mina), f32x4.mul(dm, da))));
    fb = f32x4.add(fb, f32x4.sub(f32x4.mul(f32x4.convert_i32x4_s(ib), f32x4.mul(d, db)), f32x4.mul(f32x4.convert_i32x4_s(minb), f32x4.mul(dm, db))));
  }
  storeRows4(oa, fa, nOut);
  storeRows4(ob, fb, nOut);
}

// Prefill of q4_K / q5_K with four tokens a pass (x8, x8 + K, …): each quant vector is unpacked once for
// four tokens, half at a time (low nibbles, then high), so a pass keeps 4 activation vectors and 4 i16 sums.
// Same sums and float steps as tile4K2Q45, token by token.
function tile4K4Q45<Q>(x8: usize, dx: usize, sums: usize, K: i32, g: usize, nsb: i32, o: usize, os: usize, nOut: i32): void {
  const five = sizeof<Q>() == 2;
  const GB: usize = five ? 720 : 592, m15 = v128.load(BYTE_CONSTS, M15), bit = v128.load(BYTE_CONSTS, M16);
  const xs = <usize>K, ss = <usize>(K >> 4), ds = <usize>nsb << 2;
  let f0 = f32x4.splat(0), f1 = f32x4.splat(0), f2 = f32x4.splat(0), f3 = f32x4.splat(0);
  for (let s = 0; s < nsb; s++) {
    const blk = g + <usize>s * 4 * GB, e = <usize>s << 8;
    let i0 = i32x4.splat(0), i1 = i32x4.splat(0), i2 = i32x4.splat(0), i3 = i32x4.splat(0);
    for (let c = 0; c < 4; c++) {
      const q = blk + (five ? 832 : 320) + (<usize>c << 9), x = x8 + e + (<usize>c << 6);
      // Each step its own basic block (qv >= 1024: the conditions always hold), as in tile4K2Q45.
      // BEGIN prefill four-token steps (scripts/gen_steps.mjs)
      { // low nibbles: sub-block 2c
        let a16 = i16x8.splat(0), b16 = i16x8.splat(0), c16 = i16x8.splat(0), d16 = i16x8.splat(0);
        for (let j: usize = 0; j < 2; j++) {
          const qv = q + (j << 8), hv = blk + 320 + (j << 8), xo = x + (j << 4);
          const x0 = v128.load(xo), x1 = v128.load(xo + xs), x2 = v128.load(xo + 2 * xs), x3 = v128.load(xo + 3 * xs);
          if (qv != 1) { // step 0
            const v = v128.load(qv), w = lv45(v, five ? v128.load(hv) : v, false, five, 4 - 2 * c, m15, bit);
            a16 = dotStep<Q>(a16, i32x4.shuffle(x0, x0, 0, 0, 0, 0), w);
            b16 = dotStep<Q>(b16, i32x4.shuffle(x1, x1, 0, 0, 0, 0), w);
            c16 = dotStep<Q>(c16, i32x4.shuffle(x2, x2, 0, 0, 0, 0), w);
            d16 = dotStep<Q>(d16, i32x4.shuffle(x3, x3, 0, 0, 0, 0), w);
          }
          if (qv != 2) { // step 1
            const v = v128.load(qv, 64), w = lv45(v, five ? v128.load(hv, 64) : v, false, five, 4 - 2 * c, m15, bit);
            a16 = dotStep<Q>(a16, i32x4.shuffle(x0, x0, 1, 1, 1, 1), w);
            b16 = dotStep<Q>(b16, i32x4.shuffle(x1, x1, 1, 1, 1, 1), w);
            c16 = dotStep<Q>(c16, i32x4.shuffle(x2, x2, 1, 1, 1, 1), w);
            d16 = dotStep<Q>(d16, i32x4.shuffle(x3, x3, 1, 1, 1, 1), w);
          }
          if (qv != 3) { // step 2
            const v = v128.load(qv, 128), w = lv45(v, five ? v128.load(hv, 128) : v, false, five, 4 - 2 * c, m15, bit);
            a16 = dotStep<Q>(a16, i32x4.shuffle(x0, x0, 2, 2, 2, 2), w);
            b16 = dotStep<Q>(b16, i32x4.shuffle(x1, x1, 2, 2, 2, 2), w);
            c16 = dotStep<Q>(c16, i32x4.shuffle(x2, x2, 2, 2, 2, 2), w);
            d16 = dotStep<Q>(d16, i32x4.shuffle(x3, x3, 2, 2, 2, 2), w);
          }
          if (qv != 4) { // step 3
            const v = v128.load(qv, 192), w = lv45(v, five ? v128.load(hv, 192) : v, false, five, 4 - 2 * c, m15, bit);
            a16 = dotStep<Q>(a16, i32x4.shuffle(x0, x0, 3, 3, 3, 3), w);
            b16 = dotStep<Q>(b16, i32x4.shuffle(x1, x1, 3, 3, 3, 3), w);
            c16 = dotStep<Q>(c16, i32x4.shuffle(x2, x2, 3, 3, 3, 3), w);
            d16 = dotStep<Q>(d16, i32x4.shuffle(x3, x3, 3, 3, 3, 3), w);
          }
          if (five || j == 1) { // a phase ends: scale by the sub-block's scales, widening to i32
            const sc = v128.load8x8_u(blk + vo(16 + (<usize>c << 3)));
            i0 = phaseSum<Q>(i0, a16, sc, false); i1 = phaseSum<Q>(i1, b16, sc, false);
            i2 = phaseSum<Q>(i2, c16, sc, false); i3 = phaseSum<Q>(i3, d16, sc, false);
            a16 = i16x8.splat(0); b16 = i16x8.splat(0); c16 = i16x8.splat(0); d16 = i16x8.splat(0);
          }
        }
      }
      { // high nibbles: sub-block 2c + 1
        let a16 = i16x8.splat(0), b16 = i16x8.splat(0), c16 = i16x8.splat(0), d16 = i16x8.splat(0);
        for (let j: usize = 0; j < 2; j++) {
          const qv = q + (j << 8), hv = blk + 320 + (j << 8), xo = x + (j << 4) + 32;
          const x0 = v128.load(xo), x1 = v128.load(xo + xs), x2 = v128.load(xo + 2 * xs), x3 = v128.load(xo + 3 * xs);
          if (qv != 1) { // step 0
            const v = v128.load(qv), w = lv45(v, five ? v128.load(hv) : v, true, five, 3 - 2 * c, m15, bit);
            a16 = dotStep<Q>(a16, i32x4.shuffle(x0, x0, 0, 0, 0, 0), w);
            b16 = dotStep<Q>(b16, i32x4.shuffle(x1, x1, 0, 0, 0, 0), w);
            c16 = dotStep<Q>(c16, i32x4.shuffle(x2, x2, 0, 0, 0, 0), w);
            d16 = dotStep<Q>(d16, i32x4.shuffle(x3, x3, 0, 0, 0, 0), w);
          }
          if (qv != 2) { // step 1
            const v = v128.load(qv, 64), w = lv45(v, five ? v128.load(hv, 64) : v, true, five, 3 - 2 * c, m15, bit);
            a16 = dotStep<Q>(a16, i32x4.shuffle(x0, x0, 1, 1, 1, 1), w);
            b16 = dotStep<Q>(b16, i32x4.shuffle(x1, x1, 1, 1, 1, 1), w);
            c16 = dotStep<Q>(c16, i32x4.shuffle(x2, x2, 1, 1, 1, 1), w);
            d16 = dotStep<Q>(d16, i32x4.shuffle(x3, x3, 1, 1, 1, 1), w);
          }
          if (qv != 3) { // step 2
            const v = v128.load(qv, 128), w = lv45(v, five ? v128.load(hv, 128) : v, true, five, 3 - 2 * c, m15, bit);
            a16 = dotStep<Q>(a16, i32x4.shuffle(x0, x0, 2, 2, 2, 2), w);
            b16 = dotStep<Q>(b16, i32x4.shuffle(x1, x1, 2, 2, 2, 2), w);
            c16 = dotStep<Q>(c16, i32x4.shuffle(x2, x2, 2, 2, 2, 2), w);
            d16 = dotStep<Q>(d16, i32x4.shuffle(x3, x3, 2, 2, 2, 2), w);
          }
          if (qv != 4) { // step 3
            const v = v128.load(qv, 192), w = lv45(v, five ? v128.load(hv, 192) : v, true, five, 3 - 2 * c, m15, bit);
            a16 = dotStep<Q>(a16, i32x4.shuffle(x0, x0, 3, 3, 3, 3), w);
            b16 = dotStep<Q>(b16, i32x4.shuffle(x1, x1, 3, 3, 3, 3), w);
            c16 = dotStep<Q>(c16, i32x4.shuffle(x2, x2, 3, 3, 3, 3), w);
            d16 = dotStep<Q>(d16, i32x4.shuffle(x3, x3, 3, 3, 3, 3), w);
          }
          if (five || j == 1) { // a phase ends: scale by the sub-block's scales, widening to i32
            const sc = v128.load8x8_u(blk + vo(16 + (<usize>c << 3)));
            i0 = phaseSum<Q>(i0, a16, sc, true); i1 = phaseSum<Q>(i1, b16, sc, true);
            i2 = phaseSum<Q>(i2, c16, sc, true); i3 = phaseSum<Q>(i3, d16, sc, true);
            a16 = i16x8.splat(0); b16 = i16x8.splat(0); c16 = i16x8.splat(0); d16 = i16x8.splat(0);
          }
        }
      }
      // END prefill four-token steps
    }
    const m0 = v128.load8x8_u(blk, 192), m1 = v128.load8x8_u(blk, 200), m2 = v128.load8x8_u(blk, 256), m3 = v128.load8x8_u(blk, 264);
    const d = halfBitsF32x4(blk, v128.load(HALF_CONSTS)), dm = halfBitsF32x4(blk + 8, v128.load(HALF_CONSTS));
    f0 = f32x4.add(f0, finK(i0, sums + (e >> 4), m0, m1, m2, m3, d, dm, load<f32>(dx + (<usize>s << 2))));
    f1 = f32x4.add(f1, finK(i1, sums + (e >> 4) + ss, m0, m1, m2, m3, d, dm, load<f32>(dx + ds + (<usize>s << 2))));
    f2 = f32x4.add(f2, finK(i2, sums + (e >> 4) + 2 * ss, m0, m1, m2, m3, d, dm, load<f32>(dx + 2 * ds + (<usize>s << 2))));
    f3 = f32x4.add(f3, finK(i3, sums + (e >> 4) + 3 * ss, m0, m1, m2, m3, d, dm, load<f32>(dx + 3 * ds + (<usize>s << 2))));
  }
  storeRows4(o, f0, nOut); storeRows4(o + os, f1, nOut); storeRows4(o + 2 * os, f2, nOut); storeRows4(o + 3 * os, f3, nOut);
}

/** A token's super-block sums i (scaled levels) -> its 4 rows' f32 contributions: d·dx·i − dmin·dx·Σ m_j·Σx_j. */
// @ts-ignore: decorator
@inline function finK(i: v128, sa: usize, m0: v128, m1: v128, m2: v128, m3: v128, d: v128, dm: v128, dxs: f32): v128 {
  const mins = i32x4.add(i32x4.add(i32x4.dot_i16x8_s(m0, v128.load32_splat(sa)), i32x4.dot_i16x8_s(m1, v128.load32_splat(sa + 4))),
    i32x4.add(i32x4.dot_i16x8_s(m2, v128.load32_splat(sa + 8)), i32x4.dot_i16x8_s(m3, v128.load32_splat(sa + 12))));
  const dv = f32x4.splat(dxs);
  return f32x4.sub(f32x4.mul(f32x4.convert_i32x4_s(i), f32x4.mul(d, dv)), f32x4.mul(f32x4.convert_i32x4_s(mins), f32x4.mul(dm, dv)));
}

// Prefill of q6_K: one group against two activation rows (xa, xa + K), each sub-block's level vectors
// unpacked once for both (superQ6K's steps, twice the dots).
function tile4K2Q6(x8: usize, dx: usize, off: usize, K: i32, g: usize, nsb: i32, oa: usize, ob: usize, nOut: i32): void {
  const m63 = v128.load(BYTE_CONSTS, M63), top = v128.load(BYTE_CONSTS, MTOP);
  const dbOff = <usize>nsb << 2;
  let fa = f32x4.splat(0), fb = f32x4.splat(0);
  for (let s = 0; s < nsb; s++) {
    const blk = g + <usize>s * 4 * 848, e = <usize>s << 8;
    let ia = i32x4.splat(0), ib = i32x4.splat(0);
    let v = blk + 320, xa = x8 + e, xb = xa + <usize>K, pa = off + (e >> 3), pb = pa + <usize>(K >> 3);
    for (let p: usize = 0; p < 8; p++) {
      const sv = v128.load8x8_s(blk + vo(16 + (p << 3))), s5 = i16x8.shl(sv, 5); // the levels are the weights + 32
      ia = i32x4.sub(ia, i32x4.dot_i16x8_s(s5, v128.load32_splat(pa)));
      ib = i32x4.sub(ib, i32x4.dot_i16x8_s(s5, v128.load32_splat(pb)));
      for (let h = 0; h < 2; h++) { // sub-blocks 2p, 2p + 1
        const w = v + (<usize>h * 192), ya = xa + (<usize>h << 4), yb = xb + (<usize>h << 4);
        const sh = h == 0 ? v128.shuffle<i16>(sv, sv, 0, 0, 2, 2, 4, 4, 6, 6) : v128.shuffle<i16>(sv, sv, 1, 1, 3, 3, 5, 5, 7, 7);
        const A = v128.load(w), B = v128.load(w, 64), C = v128.load(w, 128);
        const l0 = v128.and(A, m63), l1 = v128.and(B, m63), l2 = v128.and(C, m63);
        const l3 = i16x8.shr_u(v128.or(i16x8.shr_u(v128.or(i16x8.shr_u(v128.and(A, top), 2), v128.and(B, top)), 2), v128.and(C, top)), 2);
        ia = i32x4.add(ia, subDotsQ6<u32>(v128.load(ya), l0, l1, l2, l3, sh));
        ib = i32x4.add(ib, subDotsQ6<u32>(v128.load(yb), l0, l1, l2, l3, sh));
      }
      v += 384; xa += 32; xb += 32; pa += 4; pb += 4;
    }
    const d = v128.load(blk);
    fa = f32x4.add(fa, f32x4.mul(f32x4.convert_i32x4_s(ia), f32x4.mul(d, f32x4.splat(load<f32>(dx + (<usize>s << 2))))));
    fb = f32x4.add(fb, f32x4.mul(f32x4.convert_i32x4_s(ib), f32x4.mul(d, f32x4.splat(load<f32>(dx + dbOff + (<usize>s << 2))))));
  }
  storeRows4(oa, fa, nOut);
  storeRows4(ob, fb, nOut);
}

// Prefill of q6_K with four tokens a pass (x8, x8 + K, …): tile4K2Q6's steps, each sub-block's level vectors
// unpacked once for four tokens.
function tile4K4Q6<Q>(x8: usize, dx: usize, off: usize, K: i32, g: usize, nsb: i32, o: usize, os: usize, nOut: i32): void {
  const m63 = v128.load(BYTE_CONSTS, M63), top = v128.load(BYTE_CONSTS, MTOP);
  const xs = <usize>K, ps = <usize>(K >> 3), ds = <usize>nsb << 2;
  let f0 = f32x4.splat(0), f1 = f32x4.splat(0), f2 = f32x4.splat(0), f3 = f32x4.splat(0);
  for (let s = 0; s < nsb; s++) {
    const blk = g + <usize>s * 4 * 848, e = <usize>s << 8;
    let i0 = i32x4.splat(0), i1 = i32x4.splat(0), i2 = i32x4.splat(0), i3 = i32x4.splat(0);
    let v = blk + 320, x = x8 + e, p0 = off + (e >> 3);
    for (let p: usize = 0; p < 8; p++) {
      const sv = v128.load8x8_s(blk + vo(16 + (p << 3))), s5 = i16x8.shl(sv, 5); // the levels are the weights + 32
      i0 = i32x4.sub(i0, i32x4.dot_i16x8_s(s5, v128.load32_splat(p0)));
      i1 = i32x4.sub(i1, i32x4.dot_i16x8_s(s5, v128.load32_splat(p0 + ps)));
      i2 = i32x4.sub(i2, i32x4.dot_i16x8_s(s5, v128.load32_splat(p0 + 2 * ps)));
      i3 = i32x4.sub(i3, i32x4.dot_i16x8_s(s5, v128.load32_splat(p0 + 3 * ps)));
      for (let h = 0; h < 2; h++) { // sub-blocks 2p, 2p + 1
        const w = v + (<usize>h * 192), y = x + (<usize>h << 4);
        const sh = h == 0 ? v128.shuffle<i16>(sv, sv, 0, 0, 2, 2, 4, 4, 6, 6) : v128.shuffle<i16>(sv, sv, 1, 1, 3, 3, 5, 5, 7, 7);
        const A = v128.load(w), B = v128.load(w, 64), C = v128.load(w, 128);
        const l0 = v128.and(A, m63), l1 = v128.and(B, m63), l2 = v128.and(C, m63);
        const l3 = i16x8.shr_u(v128.or(i16x8.shr_u(v128.or(i16x8.shr_u(v128.and(A, top), 2), v128.and(B, top)), 2), v128.and(C, top)), 2);
        i0 = i32x4.add(i0, subDotsQ6<Q>(v128.load(y), l0, l1, l2, l3, sh));
        i1 = i32x4.add(i1, subDotsQ6<Q>(v128.load(y + xs), l0, l1, l2, l3, sh));
        i2 = i32x4.add(i2, subDotsQ6<Q>(v128.load(y + 2 * xs), l0, l1, l2, l3, sh));
        i3 = i32x4.add(i3, subDotsQ6<Q>(v128.load(y + 3 * xs), l0, l1, l2, l3, sh));
      }
      v += 384; x += 32; p0 += 4;
    }
    const d = v128.load(blk);
    f0 = f32x4.add(f0, f32x4.mul(f32x4.convert_i32x4_s(i0), f32x4.mul(d, f32x4.splat(load<f32>(dx + (<usize>s << 2))))));
    f1 = f32x4.add(f1, f32x4.mul(f32x4.convert_i32x4_s(i1), f32x4.mul(d, f32x4.splat(load<f32>(dx + ds + (<usize>s << 2))))));
    f2 = f32x4.add(f2, f32x4.mul(f32x4.convert_i32x4_s(i2), f32x4.mul(d, f32x4.splat(load<f32>(dx + 2 * ds + (<usize>s << 2))))));
    f3 = f32x4.add(f3, f32x4.mul(f32x4.convert_i32x4_s(i3), f32x4.mul(d, f32x4.splat(load<f32>(dx + 3 * ds + (<usize>s << 2))))));
  }
  storeRows4(o, f0, nOut); storeRows4(o + os, f1, nOut); storeRows4(o + 2 * os, f2, nOut); storeRows4(o + 3 * os, f3, nOut);
}

/**
 * One token's q6_K sub-block: its 16 activations as one vector, its words broadcast by lane shuffles (V8 gives
 * every offset broadcast load its own address computation), against level vectors l0 … l3, scaled by sh.
 */
// @ts-ignore: decorator
@inline function subDotsQ6<Q>(xv: v128, l0: v128, l1: v128, l2: v128, l3: v128, sh: v128): v128 {
  if (dotAddK<Q>()) { // the dot-add form (Q = i32): one i32 row sum, times the row's scale (sh's i16 pairs: >> 16)
    let t = i32x4.relaxed_dot_i8x16_i7x16_add_s(i32x4.shuffle(xv, xv, 0, 0, 0, 0), l0, i32x4.splat(0));
    t = i32x4.relaxed_dot_i8x16_i7x16_add_s(i32x4.shuffle(xv, xv, 1, 1, 1, 1), l1, t);
    t = i32x4.relaxed_dot_i8x16_i7x16_add_s(i32x4.shuffle(xv, xv, 2, 2, 2, 2), l2, t);
    t = i32x4.relaxed_dot_i8x16_i7x16_add_s(i32x4.shuffle(xv, xv, 3, 3, 3, 3), l3, t);
    return i32x4.mul(t, i32x4.shr_s(sh, 16));
  }
  return i32x4.add(
    i32x4.dot_i16x8_s(i16x8.add(dot16(i32x4.shuffle(xv, xv, 0, 0, 0, 0), l0), dot16(i32x4.shuffle(xv, xv, 1, 1, 1, 1), l1)), sh),
    i32x4.dot_i16x8_s(i16x8.add(dot16(i32x4.shuffle(xv, xv, 2, 2, 2, 2), l2), dot16(i32x4.shuffle(xv, xv, 3, 3, 3, 3), l3)), sh));
}

/** The first n (1…4) lanes of acc to o. */
// @ts-ignore: decorator
@inline function storeRows4(o: usize, acc: v128, n: i32): void {
  if (n >= 4) { v128.store(o, acc); return; }
  store<f32>(o, f32x4.extract_lane(acc, 0));
  if (n > 1) store<f32>(o, f32x4.extract_lane(acc, 1), 4);
  if (n > 2) store<f32>(o, f32x4.extract_lane(acc, 2), 8);
}


/** One activation row (x, d, its sums and off) against the quad of groups at g (16 rows) by the decode tiles -> o. */
// @ts-ignore: decorator
@inline function decodeQuad<Q>(x: usize, d: usize, sums: usize, off: usize, g: usize, nsb: i32, o: usize): void {
  if (sizeof<Q>() == 4) tile16Q6K(x, d, off, g, nsb, o);
  else if (sizeof<Q>() == 1) tile16Q4K(x, d, sums, g, nsb, o);
  else tile16Q5K(x, d, sums, g, nsb, o);
}

function loopK<Q>(out: usize, x8: usize, dx: usize, sums: usize, off: usize, w: usize, T: i32, N: i32, K: i32, n0: i32, n1: i32): void {
  const nsb = K >> 8, gb = kqGroupBytes(kindOf<Q>());
  if (T == 1 && (n0 & 15) == 0) { // decode: whole quads of groups (16 rows), the rest in 4-row tiles
    let n = n0;
    for (; n + 16 <= n1; n += 16) decodeQuad<Q>(x8, dx, sums, off, kqGroupAt(w, nsb, gb, n >> 2), nsb, out + (<usize>n << 2));
    n0 = n;
    if (n0 >= n1) return;
  }
  // An odd count's last token (a batched decode step of 3, 5, … sequences) over whole quads by the decode tiles:
  // the 4-row tiles below would take it alone through tile4K, a group at a time (T = 3: 25 % slower in all).
  // Rows [n0, nq) then run tokens [0, tq) in the 4-row tiles.
  let tq = T, nq = n0;
  if (sizeof<Q>() == 1 && T == 2 && (n0 & 15) == 0) { // a batched step of two rows: both at once, whole quads
    for (; nq + 16 <= n1; nq += 16)
      tile16Q4K2(x8, dx, sums, <usize>K, kqGroupAt(w, nsb, gb, nq >> 2), nsb, out + (<usize>nq << 2), out + ((<usize>N + nq) << 2));
    tq = 0;
  } else if (T > 1 && (T & 1) != 0 && (n0 & 15) == 0) {
    const t = <usize>(T - 1), x = x8 + t * K, d = dx + ((t * nsb) << 2), s = sums + ((t * K) >> 4), f = off + ((t * K) >> 3);
    for (; nq + 16 <= n1; nq += 16) decodeQuad<Q>(x, d, s, f, kqGroupAt(w, nsb, gb, nq >> 2), nsb, out + ((t * N + nq) << 2));
    tq = T - 1;
  }
  // Prefill: a group against a block of TB tokens, so the group stays in L1 while the tokens pass.
  for (let tb = 0; tb < T; tb += TB) {
    for (let n = n0; n < n1; n += 4) {
      // A batched decode step's few tokens: touch the next quad (whole, in this chunk) before its groups are read one
      // by one (OpenELM-270M Q4_K_M `bench -b 8`, AMD EPYC: 193-238 t/s → 240-249; -b 2 135-159 → 171-181).
      if (T <= TB && (n & 15) == 0 && n + 16 < n1 && n + 32 <= N) touchLines(kqGroupAt(w, nsb, gb, (n >> 2) + 4), <usize>nsb * 4 * gb);
      const te = min(n < nq ? tq : T, tb + TB);
      let t = tb;
      for (; t + 4 <= te; t += 4) { // four tokens a pass
        const x = x8 + <usize>t * K, d = dx + ((<usize>t * nsb) << 2), g = kqGroupAt(w, nsb, gb, n >> 2), o = out + ((<usize>t * N + n) << 2);
        if (sizeof<Q>() == 4) tile4K4Q6<Q>(x, d, off + ((<usize>t * K) >> 3), K, g, nsb, o, <usize>N << 2, n1 - n);
        else tile4K4Q45<Q>(x, d, sums + ((<usize>t * K) >> 4), K, g, nsb, o, <usize>N << 2, n1 - n);
      }
      for (; t + 2 <= te; t += 2) { // two tokens a pass
        const x = x8 + <usize>t * K, d = dx + ((<usize>t * nsb) << 2), g = kqGroupAt(w, nsb, gb, n >> 2);
        const oa = out + ((<usize>t * N + n) << 2), ob = oa + (<usize>N << 2);
        if (sizeof<Q>() == 4) tile4K2Q6(x, d, off + ((<usize>t * K) >> 3), K, g, nsb, oa, ob, n1 - n);
        else tile4K2Q45<Q>(x, d, sums + ((<usize>t * K) >> 4), K, g, nsb, oa, ob, n1 - n);
      }
      for (; t < te; t++) {
        const acc = tile4K<Q>(x8 + <usize>t * K, dx + ((<usize>t * nsb) << 2), sums + ((<usize>t * K) >> 4),
          off + ((<usize>t * K) >> 3), kqGroupAt(w, nsb, gb, n >> 2), nsb);
        const o = out + ((<usize>t * N + n) << 2);
        if (n + 4 <= n1) v128.store(o, acc);
        else {
          store<f32>(o, f32x4.extract_lane(acc, 0));
          if (n + 1 < n1) store<f32>(o, f32x4.extract_lane(acc, 1), 4);
          if (n + 2 < n1) store<f32>(o, f32x4.extract_lane(acc, 2), 8);
        }
      }
    }
  }
}

/**
 * Rows [r0, r1) of x (T, K), K % 256 == 0 -> q8 (T, K) int8, dx (T, K/256) f32 scales (amax/127 per 256,
 * ggml's q8_K) times dscale (a power of two: q4_K / q5_K's halves' widening factor, 1 for q6_K), sums (T, K/32)
 * i16: the int sum of each 32 levels, off (T, K/16) i16: the sum of each 16.
 */
export function quantizeActK(x: usize, K: i32, q8: usize, dx: usize, sums: usize, off: usize, dscale: f32, r0: i32, r1: i32): void {
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
      store<f32>(dx + (((<usize>r * nsb) + s) << 2), d * dscale);
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
        const eb = e0 + (b << 5);
        v128.store(q8 + eb, i8x16.narrow_i16x8_s(h0, h1));
        v128.store(q8 + eb, i8x16.narrow_i16x8_s(h2, h3), 16);
        const sa = i32x4.add(i32x4.add(q0, q1), i32x4.add(q2, q3)), sb = i32x4.add(i32x4.add(q4, q5), i32x4.add(q6, q7));
        const s0 = i32x4.extract_lane(sa, 0) + i32x4.extract_lane(sa, 1) + i32x4.extract_lane(sa, 2) + i32x4.extract_lane(sa, 3);
        const s1 = i32x4.extract_lane(sb, 0) + i32x4.extract_lane(sb, 1) + i32x4.extract_lane(sb, 2) + i32x4.extract_lane(sb, 3);
        store<i16>(sums + (eb >> 4), <i16>(s0 + s1));
        store<i16>(off + (eb >> 3), <i16>s0);
        store<i16>(off + (eb >> 3), <i16>s1, 2);
      }
    }
  }
}

// Σ lanes of the i16 dots of weight lanes (we, wo: even / odd elements) with x's halves.
// @ts-ignore: decorator
@inline function dot2(we: v128, wo: v128, xe: v128, xo: v128): v128 {
  return i32x4.add(i32x4.dot_i16x8_s(we, xe), i32x4.dot_i16x8_s(wo, xo));
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
 * out (T, N) rows [n0, n1) (n0 a multiple of 4) = act (T, K) · Wᵀ for a repacked K-quant W (kind KQ_Q4_K,
 * KQ_Q5_K, KQ_Q6_K) at w; act from quantizeActK.
 */
export function matmulKQuant(out: usize, x8: usize, dx: usize, sums: usize, off: usize, w: usize, kind: i32,
  T: i32, N: i32, K: i32, n0: i32, n1: i32): void {
  switch (kind) {
    case KQ_Q4_K: loopK<u8>(out, x8, dx, sums, off, w, T, N, K, n0, n1); break;
    case KQ_Q5_K: loopK<u16>(out, x8, dx, sums, off, w, T, N, K, n0, n1); break;
    case KQ_Q4_K | KQ_DOT_ADD: loopK<i8>(out, x8, dx, sums, off, w, T, N, K, n0, n1); break;
    case KQ_Q5_K | KQ_DOT_ADD: loopK<i16>(out, x8, dx, sums, off, w, T, N, K, n0, n1); break;
    case KQ_Q6_K | KQ_DOT_ADD: loopK<i32>(out, x8, dx, sums, off, w, T, N, K, n0, n1); break;
    default: loopK<u32>(out, x8, dx, sums, off, w, T, N, K, n0, n1);
  }
}

/**
 * out (T, N) rows [n0, n1) = act (T, K) · Wᵀ for W in q5_0 / q5_1 (one) in ggml's layout at w, act from
 * quantizeAct (the int16 copy, scales and corrections per 32). Prefill over token blocks of TB.
 */
export function matmulQ5(out: usize, q16: usize, dx: usize, corr: usize, w: usize, one: bool,
  T: i32, N: i32, K: i32, n0: i32, n1: i32): void {
  loopQ5(out, q16, dx, corr, w, T, N, K, n0, n1, one);
}
