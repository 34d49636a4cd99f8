// Block-quantized weights (llama.cpp q8_0 / q4_0, 32 weights a block) times activations quantized to int8
// blocks on the fly (like ggml's q8_0 activations, but with an f32 scale): integer dots, one float
// multiply-add per block. Reference: ggml-cpu quants.c ggml_vec_dot_q8_0_q8_0 / ggml_vec_dot_q4_0_q8_0.
//
// Weights are repacked at load (repackQuant) into groups of 4 rows interleaved block by block (like
// ggml's q8_0_4x4 repack): per group and block the 4 rows' quants, q8_0 32 bytes a row; q4_0 after the 4
// rows' f16 scales (8 bytes), as 4 vectors A_h whose i32 lane r holds row r's ggml bytes 4h … 4h+3 (byte j of a
// ggml block: weight j in the low nibble, j + 16 in the high), so A_h & 15 holds weights 4h … 4h+3 of the
// 4 rows, row r in lane r, and (A_h >> 4) & 15 weights 16+4h …: dots against a broadcast activation quad
// leave each row's sum in its own lane, no horizontal sums. Groups come in quads (16 rows) stored block by
// block: a quad's 4 group blocks b side by side, then b + 1 (groupAt), so the 16-row decode tiles read one
// sequential stream (on an AMD EPYC against four group streams: q8_0 tg128 +12 %; q4_0 +10-20 % with 2 threads,
// its matvec from DRAM 1.5× faster; single-core DRAM reads had stalled on 8 row streams on an Intel Xeon);
// rows padded to a multiple of 16.
// Both keep the file's f16 scales, so the layouts are the files' sizes (f32 scales added 6 % to q8_0 and 11 %
// to q4_0: 64 and 55 MiB of a 1.1B model). q8_0's sit in an array after all the quants (scalesOf; per group and
// block the 4 rows', 8 bytes: inline they would misalign its quant vectors), q4_0's at the head of each group
// block (72 bytes; its quant vectors are then 8 bytes off 16-byte alignment, which x86 loads do not mind; a
// second stream for them measured 5-25 % slower). On an AMD EPYC, decode tg128 of a 270M model: q8_0 +13 %,
// q4_0 +4 % with 2 threads and −5 to −11 % with 1 (its loop does fewer ops a block, so the 3 of the widening
// weigh more where a core is compute-bound).
// The halves widen in 2 ops (halfBitsF32x4) to the value · 2^-112, the 2^112 being folded into the
// activation scale (quantizeAct's dscale), whose product with the weight scale is then the f32 one's, bit
// for bit. A half below 2^-14 would widen to a subnormal float, which x86 multiplies through a microcode
// assist (≈ 2 % of the blocks of real tensors): so the halves are stored times 2^SCALE_SHIFT (10, chosen by
// the host, wasm/index.ts: 2^-24 · 2^10 = 2^-14), which makes every one normal, and the activation scale
// takes 2^(112 - SCALE_SHIFT); a tensor with a scale too large for that (≥ 64) is stored unshifted
// (repackQuant reports it).
// Activations (quantizeAct): per row of K, int16 copies q16 (for i32x4.dot_i16x8_s), int8 copies q8 (for
// the relaxed i8·i7 dot), a scale per block, and per block an i32x4 [8·Σq, 0, 0, 0]: weights are stored
// with an offset (q4_0 nibbles +8, q8_0 bytes +128), so Σ x·w = Σ x·stored − offset·Σ x.

import { BYTE_CONSTS, HALF_CONSTS, M15, M8, M80, MW1, MW255, halfBitsF32x4, halfToF32, shiftHalf, storeCols, touchLines } from "./simd";
import { KQ_DOT_ADD, KQ_Q4_K, KQ_Q6_K, kqGroupBytes, matmulKQuant, quantizeActK } from "./matmul_kquant";

const TB = 16;

/**
 * W is the weight type tag of the kernels below: i8 q8_0, u8 q4_0, and their dot-add forms (i32x4.relaxed_dot_i8x16_
 * i7x16_add_s, 16 products added straight into i32 lanes; with AVX-VNNI the V8 of Node 24 emits one vpdpbusd for it):
 * u32 q4_0, whose nibble quads take one where the u8 form takes a vpmaddubsw and a vpaddw (and a vpmaddwd a block);
 * i32 q8_0's unpacked-pairs kernel, its stored bytes (w + 128) as the second operand in quads like q4_0's nibbles,
 * 16 products an instruction against the i16 pairs' 8 with two (vpmaddwd + vpaddd). The host takes them only where
 * its probe (dotAddProbe, kernels/wasm/dot_add.ts) finds them exact, bit for bit against the other forms, and faster:
 * V8 11.3 (Node 20) returns wrong sums for the instruction, and i32 needs bytes past 127 read unsigned (the spec
 * leaves them to the engine; vpdpbusd does).
 */
// @ts-ignore: decorator
@inline function dotAdd<W>(): bool { return ASC_FEATURE_RELAXED_SIMD && sizeof<W>() == 4; }

/** The tiles' quad layout (8 steps a block of 4-byte quads against activation quads): q4_0, and q8_0's dot-add form. */
// @ts-ignore: decorator
@inline function quadForm<W>(): bool { return ASC_FEATURE_RELAXED_SIMD && (!isSigned<W>() || sizeof<W>() == 4); }

/** Bytes of one 4-row group's block in the quants' stream: q8_0 4 rows of quants, q4_0 4 f16 scales + quants. */
// @ts-ignore: decorator
@inline function groupBlockBytes(isQ8: bool): usize { return isQ8 ? 4 * 32 : 8 + 4 * 16; }

/** Where a group block's quants start in it. */
// @ts-ignore: decorator
@inline function quantOff(isQ8: bool): usize { return isQ8 ? 0 : 8; }

/** Bytes from a group's block b to its block b + 1: a quad's 4 group blocks. */
// @ts-ignore: decorator
@inline function blockStride(isQ8: bool): usize { return groupBlockBytes(isQ8) << 2; }

/** Bytes from group gi's block 0 to group gi + 1's (within a quad: gi not ≡ 3 mod 4). */
// @ts-ignore: decorator
@inline function groupStep(nb: i32, isQ8: bool): usize { return groupBlockBytes(isQ8); }

/** Bytes from a group's scales of block b to block b + 1's: q8_0 a quad's 4 × 4 halves, q4_0 within the blocks. */
// @ts-ignore: decorator
@inline function scaleStep(isQ8: bool): usize { return isQ8 ? 32 : blockStride(isQ8); }

/** Bytes from group gi's scales to group gi + 1's (q8_0 within a quad: 4 halves; q4_0 within the blocks). */
// @ts-ignore: decorator
@inline function scaleGroupStep(nb: i32, isQ8: bool): usize { return isQ8 ? 8 : groupStep(nb, isQ8); }

/** Where the scales of a repacked N × (32 nb) matrix at w start: q8_0 after its ⌈N/16⌉ quads of quants, q4_0 in them. */
// @ts-ignore: decorator
@inline function scalesOf(w: usize, N: i32, nb: i32, isQ8: bool): usize {
  return isQ8 ? w + <usize>((N + 15) >> 4) * <usize>nb * blockStride(isQ8) : w;
}

/** Group gi's block 0 in the quants at w. */
// @ts-ignore: decorator
@inline function groupAt(w: usize, nb: i32, isQ8: bool, gi: i32): usize {
  return w + <usize>(gi >> 2) * <usize>nb * blockStride(isQ8) + <usize>(gi & 3) * groupBlockBytes(isQ8);
}

/** Group gi's block-0 scales, sc = scalesOf(...). */
// @ts-ignore: decorator
@inline function scalesAt(sc: usize, nb: i32, isQ8: bool, gi: i32): usize {
  if (!isQ8) return groupAt(sc, nb, isQ8, gi);
  return sc + <usize>(gi >> 2) * <usize>nb * scaleStep(isQ8) + <usize>(gi & 3) * scaleGroupStep(nb, isQ8);
}

/**
 * ggml blocks (34 bytes for q8_0, 18 for q4_0) of rows rowBase+i, i in [i0, i1), staged at src from row
 * rowBase on -> the 4-row interleaved layout at dst, scales times 2^shift (0 or SCALE_SHIFT); sets the i32 at
 * flag to 1 when a scale does not fit shifted (the caller then repacks the tensor with shift 0).
 */
export function repackQuant(src: usize, isQ8: bool, K: i32, N: i32, dst: usize, rowBase: i32, shift: i32, flag: usize, i0: i32, i1: i32): void {
  const nb = K >> 5;
  const qb: usize = isQ8 ? 32 : 16;
  for (let i = i0; i < i1; i++) {
    const r = rowBase + i;
    const lane = <usize>(r & 3);
    const sb = scaleStep(isQ8);
    const g = groupAt(dst, nb, isQ8, r >> 2), sc = scalesAt(scalesOf(dst, N, nb, isQ8), nb, isQ8, r >> 2);
    for (let b = 0; b < nb; b++) {
      const s = src + (<usize>i * nb + b) * (qb + 2);
      const o = g + <usize>b * blockStride(isQ8);
      const h = shiftHalf(load<u16>(s), shift);
      if (h > 0xffff) store<i32>(flag, 1);
      store<u16>(sc + <usize>b * sb + (lane << 1), <u16>h);
      const q = o + quantOff(isQ8) + lane * qb;
      if (isQ8) { // stored + 128 (unsigned), see dotQ8
        v128.store(q, v128.xor(v128.load(s + 2), i8x16.splat(-128)));
        v128.store(q, v128.xor(v128.load(s + 18), i8x16.splat(-128)), 16);
      } else { // row r's bytes 4h … 4h+3 into lane r of A_h
        store<u32>(q - lane * qb + (lane << 2), load<u32>(s + 2));
        store<u32>(q - lane * qb + (lane << 2), load<u32>(s + 6), 16);
        store<u32>(q - lane * qb + (lane << 2), load<u32>(s + 10), 32);
        store<u32>(q - lane * qb + (lane << 2), load<u32>(s + 14), 48);
      }
    }
  }
}

/**
 * Rows [r0, r1) of x (T, K), K % 32 == 0 -> q16 (T, K) i16, q8 (T, K) i8, dx (T, K/32) f32 (the scales times
 * dscale: the factor the weights' stored scales need, see the top), corr (T, K/32) i32x4.
 * q16 is per row in the [even 8 | odd 8] order of dotQ8, or (interleaved, for matmulQuantPairs) by groups of 4
 * rows: element pair p of row r at 16·(K/2·⌊r/4⌋ + p) + 4·(r mod 4) bytes, so one load gives 4 rows' pair;
 * dx and corr (one i32) then likewise: block b's of row r at 16·(K/32·⌊r/4⌋ + b) + 4·(r mod 4); q8 by quads:
 * element quad u of row r at 16·(K/4·⌊r/4⌋ + u) + 4·(r mod 4).
 */
export function quantizeAct(x: usize, K: i32, q16: usize, q8: usize, dx: usize, corr: usize, interleaved: bool, dscale: f32, r0: i32, r1: i32): void {
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
      if (interleaved) { // the block's 16 pairs, each into its 4-row slot
        const o = q16 + ((<usize>(r >> 2) * nb + b) << 8) + (<usize>(r & 3) << 2);
        v128.store32_lane(o, h0, 0); v128.store32_lane(o, h0, 1, 16); v128.store32_lane(o, h0, 2, 32); v128.store32_lane(o, h0, 3, 48);
        v128.store32_lane(o, h1, 0, 64); v128.store32_lane(o, h1, 1, 80); v128.store32_lane(o, h1, 2, 96); v128.store32_lane(o, h1, 3, 112);
        v128.store32_lane(o, h2, 0, 128); v128.store32_lane(o, h2, 1, 144); v128.store32_lane(o, h2, 2, 160); v128.store32_lane(o, h2, 3, 176);
        v128.store32_lane(o, h3, 0, 192); v128.store32_lane(o, h3, 1, 208); v128.store32_lane(o, h3, 2, 224); v128.store32_lane(o, h3, 3, 240);
      } else {
        const o16 = q16 + (e << 1); // per 16 elements: the even ones, then the odd ones (see dotQ8)
        v128.store(o16, v128.shuffle<i16>(h0, h1, 0, 2, 4, 6, 8, 10, 12, 14));
        v128.store(o16, v128.shuffle<i16>(h0, h1, 1, 3, 5, 7, 9, 11, 13, 15), 16);
        v128.store(o16, v128.shuffle<i16>(h2, h3, 0, 2, 4, 6, 8, 10, 12, 14), 32);
        v128.store(o16, v128.shuffle<i16>(h2, h3, 1, 3, 5, 7, 9, 11, 13, 15), 48);
      }
      const b0 = i8x16.narrow_i16x8_s(h0, h1), b1 = i8x16.narrow_i16x8_s(h2, h3);
      if (interleaved) { // the block's 8 quads, each into its 4-row slot
        const o = q8 + ((<usize>(r >> 2) * nb + b) << 7) + (<usize>(r & 3) << 2);
        v128.store32_lane(o, b0, 0); v128.store32_lane(o, b0, 1, 16); v128.store32_lane(o, b0, 2, 32); v128.store32_lane(o, b0, 3, 48);
        v128.store32_lane(o, b1, 0, 64); v128.store32_lane(o, b1, 1, 80); v128.store32_lane(o, b1, 2, 96); v128.store32_lane(o, b1, 3, 112);
      } else {
        v128.store(q8 + e, b0); v128.store(q8 + e, b1, 16);
      }
      const sv = i32x4.add(i32x4.add(i32x4.add(q0, q1), i32x4.add(q2, q3)), i32x4.add(i32x4.add(q4, q5), i32x4.add(q6, q7)));
      const sum = i32x4.extract_lane(sv, 0) + i32x4.extract_lane(sv, 1) + i32x4.extract_lane(sv, 2) + i32x4.extract_lane(sv, 3);
      store<f32>(interleaved ? dx + ((<usize>(r >> 2) * nb + b) << 4) + (<usize>(r & 3) << 2) : dx + (i << 2), d * dscale);
      if (interleaved) store<i32>(corr + ((<usize>(r >> 2) * nb + b) << 4) + (<usize>(r & 3) << 2), sum << 3);
      else v128.store(corr + (i << 4), i32x4.replace_lane(i32x4.splat(0), 0, sum << 3));
    }
  }
}

/** Widen row r of a repacked quantized N × K matrix (repackQuant layout at w, scales shifted by shift) to f32 at out. */
export function dequantRow(w: usize, isQ8: bool, K: i32, N: i32, r: i32, shift: i32, out: usize): void {
  const nb = K >> 5;
  const qb: usize = isQ8 ? 32 : 16;
  const lane = <usize>(r & 3);
  const g = groupAt(w, nb, isQ8, r >> 2), sc = scalesAt(scalesOf(w, N, nb, isQ8), nb, isQ8, r >> 2);
  for (let b = 0; b < nb; b++) {
    const blk = g + <usize>b * blockStride(isQ8);
    const d = halfToF32(load<u16>(sc + <usize>b * scaleStep(isQ8) + (lane << 1))) / <f32>(1 << shift); // exact: a power of two, result normal
    const q = blk + quantOff(isQ8) + lane * qb;
    const o = out + (<usize>b << 7);
    if (isQ8) {
      for (let j = 0; j < 32; j++) store<f32>(o + (<usize>j << 2), d * <f32>(<i32>load<u8>(q + j) - 128));
    } else {
      for (let j = 0; j < 16; j++) {
        const byte = load<u8>(blk + 8 + (<usize>(j >> 2) << 4) + (lane << 2) + <usize>(j & 3));
        store<f32>(o + (<usize>j << 2), d * <f32>(<i32>(byte & 15) - 8));
        store<f32>(o + (<usize>(j + 16) << 2), d * <f32>(<i32>(byte >> 4) - 8));
      }
    }
  }
}

// One block's integer dot (i32x4 partial sums) of the weight bytes at wb with the activation block, whose
// int16 copy is stored per 16 elements as [even 8 | odd 8] (xa, xb: elements 0..15; xc, xd: 16..31).
// q8_0 weights are stored + 128 as unsigned bytes, so as i16 lanes they split with one op each (even:
// and 0xff; odd: shr_u 8), on the two shift/logic ports of x86 cores rather than the one shuffle port
// that extend_high needs; the caller subtracts 128·Σx (corr · 16).
// @ts-ignore: decorator
@inline function dotQ8(wb: usize, xa: v128, xb: v128, xc: v128, xd: v128, m: v128): v128 {
  const w0 = v128.load(wb), w1 = v128.load(wb, 16);
  return i32x4.add(
    i32x4.add(i32x4.dot_i16x8_s(v128.and(w0, m), xa), i32x4.dot_i16x8_s(i16x8.shr_u(w0, 8), xb)),
    i32x4.add(i32x4.dot_i16x8_s(v128.and(w1, m), xc), i32x4.dot_i16x8_s(i16x8.shr_u(w1, 8), xd)));
}

// q4_0: Σ x·nibble (the −8 is in corr) of the 4 rows of a block at q, row r in lane r. Relaxed build: the
// nibble quads are the 7-bit operand of the i8 dot (one vpmaddubsw for 16 products) against the activation
// quads (x8 bytes, natural order) broadcast; 8 dots sum in i16 (|Σ| ≤ 8 · 2 · 127 · 15 = 30480), widened once.
// Plain build: the quads widened to i16 (rows 0-1 | rows 2-3) against the quad's 4 activations twice over.
// @ts-ignore: decorator
@inline function nibbleDot(q: usize, x8: usize, m: v128): v128 {
  const a0 = v128.load(q), a1 = v128.load(q, 16), a2 = v128.load(q, 32), a3 = v128.load(q, 48);
  if (ASC_FEATURE_RELAXED_SIMD) {
    const xa = v128.load(x8), xb = v128.load(x8, 16);
    return nibbleDotRelaxed(m, a0, a1, a2, a3, v128.shuffle<i32>(xa, xa, 0, 0, 0, 0), v128.shuffle<i32>(xa, xa, 1, 1, 1, 1),
      v128.shuffle<i32>(xa, xa, 2, 2, 2, 2), v128.shuffle<i32>(xa, xa, 3, 3, 3, 3), v128.shuffle<i32>(xb, xb, 0, 0, 0, 0),
      v128.shuffle<i32>(xb, xb, 1, 1, 1, 1), v128.shuffle<i32>(xb, xb, 2, 2, 2, 2), v128.shuffle<i32>(xb, xb, 3, 3, 3, 3));
  }
  let lo = i32x4.splat(0), hi = i32x4.splat(0);
  let u = v128.and(a0, m), xq = quadI16(x8, 0);
  lo = i32x4.add(lo, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(u), xq)); hi = i32x4.add(hi, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(u), xq));
  u = v128.and(a1, m); xq = quadI16(x8, 1);
  lo = i32x4.add(lo, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(u), xq)); hi = i32x4.add(hi, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(u), xq));
  u = v128.and(a2, m); xq = quadI16(x8, 2);
  lo = i32x4.add(lo, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(u), xq)); hi = i32x4.add(hi, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(u), xq));
  u = v128.and(a3, m); xq = quadI16(x8, 3);
  lo = i32x4.add(lo, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(u), xq)); hi = i32x4.add(hi, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(u), xq));
  u = v128.and(i16x8.shr_u(a0, 4), m); xq = quadI16(x8, 4);
  lo = i32x4.add(lo, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(u), xq)); hi = i32x4.add(hi, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(u), xq));
  u = v128.and(i16x8.shr_u(a1, 4), m); xq = quadI16(x8, 5);
  lo = i32x4.add(lo, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(u), xq)); hi = i32x4.add(hi, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(u), xq));
  u = v128.and(i16x8.shr_u(a2, 4), m); xq = quadI16(x8, 6);
  lo = i32x4.add(lo, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(u), xq)); hi = i32x4.add(hi, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(u), xq));
  u = v128.and(i16x8.shr_u(a3, 4), m); xq = quadI16(x8, 7);
  lo = i32x4.add(lo, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(u), xq)); hi = i32x4.add(hi, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(u), xq));
  return i32x4.add(v128.shuffle<i32>(lo, hi, 0, 2, 4, 6), v128.shuffle<i32>(lo, hi, 1, 3, 5, 7));
}

/** Activation quad h (int8 at x8 + 4h) as i16, twice: [x0 x1 x2 x3 x0 x1 x2 x3]. */
// @ts-ignore: decorator
@inline function quadI16(x8: usize, h: usize): v128 { return i16x8.extend_low_i8x16_s(v128.load32_splat(x8 + (h << 2))); }

/** The relaxed nibble dot with the 8 activation quads already broadcast (x0 … x7); m: bytes of 15. */
// @ts-ignore: decorator
@inline function nibbleDotRelaxed(m: v128, a0: v128, a1: v128, a2: v128, a3: v128,
  x0: v128, x1: v128, x2: v128, x3: v128, x4: v128, x5: v128, x6: v128, x7: v128): v128 {
  let s = i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(x0, v128.and(a0, m)), i16x8.relaxed_dot_i8x16_i7x16_s(x1, v128.and(a1, m)));
  s = i16x8.add(s, i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(x2, v128.and(a2, m)), i16x8.relaxed_dot_i8x16_i7x16_s(x3, v128.and(a3, m))));
  s = i16x8.add(s, i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(x4, v128.and(i16x8.shr_u(a0, 4), m)),
    i16x8.relaxed_dot_i8x16_i7x16_s(x5, v128.and(i16x8.shr_u(a1, 4), m))));
  s = i16x8.add(s, i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(x6, v128.and(i16x8.shr_u(a2, 4), m)),
    i16x8.relaxed_dot_i8x16_i7x16_s(x7, v128.and(i16x8.shr_u(a3, 4), m))));
  return i32x4.extadd_pairwise_i16x8_s(s);
}

/**
 * out (T, N) rows [n0, n1) (n0 a multiple of 4) = act (T, K) · Wᵀ, W repacked (W = i8: q8_0, u8: q4_0;
 * a compile-time flag, so each build of the loop is specialised), act from quantizeAct.
 * Decode: a 4-row group against the activation; prefill: the same over token blocks of TB, so the group
 * stays in L1 while the tokens pass.
 */
export function matmulQuant<W>(out: usize, q16: usize, q8: usize, dx: usize, corr: usize,
  w: usize, T: i32, N: i32, K: i32, s: usize, n0: i32, n1: i32): void {
  const isQ8 = isSigned<W>();
  const nb = K >> 5, gs = groupStep(nb, isQ8), gss = scaleGroupStep(nb, isQ8);
  const sc = scalesOf(w, N, nb, isQ8);
  // Decode, and steps of up to DECODE_ROWS activation rows (a batched decode below the pairs kernel's range):
  // the decode tiles once per row, 16 rows (a quad) at a time, then 8; the rest in the 4-row tiles below.
  if (T <= DECODE_ROWS && (n0 & 15) == 0) {
    let n = n0;
    for (let t = 0; t < T; t++) {
      n = decodeRows<W>(out + ((<usize>t * N) << 2), q16 + ((<usize>t * K) << 1), q8 + <usize>t * K, dx + ((<usize>t * nb) << 2),
        corr + ((<usize>t * nb) << 4), w, sc, nb, s, n0, n1);
    }
    n0 = n;
    if (n0 >= n1) return;
  }
  for (let tb = 0; tb < T; tb += TB) {
    const te = min(T, tb + TB);
    for (let n = n0; n < n1; n += 4) {
      for (let t = tb; t < te; t++) {
        const acc = tile4<W>(q16 + ((<usize>t * K) << 1), q8 + <usize>t * K, dx + ((<usize>t * nb) << 2),
          corr + ((<usize>t * nb) << 4), groupAt(w, nb, isQ8, n >> 2), scalesAt(sc, nb, isQ8, n >> 2), nb);
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

/** Activation rows a matmulQuant call runs through the decode tiles one at a time (a row's matvec each). */
const DECODE_ROWS = 5;

/** Rows [n0, n1) (n0 a multiple of 16) of one activation row's matvec by the decode tiles; returns the first row left. */
// @ts-ignore: decorator
@inline function decodeRows<W>(out: usize, q16: usize, q8: usize, dx: usize, corr: usize, w: usize, sc: usize, nb: i32,
  s: usize, n0: i32, n1: i32): i32 {
  const isQ8 = isSigned<W>(), gs = groupStep(nb, isQ8), gss = scaleGroupStep(nb, isQ8);
  let n = n0;
  if (!isQ8 && ASC_FEATURE_RELAXED_SIMD && n + 16 <= n1) { // s: this thread's scratch (K · 4 bytes used)
    broadcastQuads(q8, nb, s);
    for (; n + 16 <= n1; n += 16) tile16Nibbles<W>(s, dx, corr, groupAt(w, nb, isQ8, n >> 2), gs, nb, out + (<usize>n << 2));
  }
  if (isQ8 && dotAdd<W>()) for (; n + 16 <= n1; n += 16) tile16Q8Dot(q8, dx, corr, groupAt(w, nb, isQ8, n >> 2), scalesAt(sc, nb, isQ8, n >> 2), nb, out + (<usize>n << 2));
  if (isQ8) for (; n + 16 <= n1; n += 16) tile16Q8(q16, dx, corr, groupAt(w, nb, isQ8, n >> 2), scalesAt(sc, nb, isQ8, n >> 2), nb, out + (<usize>n << 2));
  else for (; n + 16 <= n1; n += 16) tile16<W>(q16, q8, dx, corr, groupAt(w, nb, isQ8, n >> 2), gs, scalesAt(sc, nb, isQ8, n >> 2), gss, nb, out + (<usize>n << 2));
  for (; n + 8 <= n1; n += 8) tile8<W>(q16, q8, dx, corr, groupAt(w, nb, isQ8, n >> 2), gs, scalesAt(sc, nb, isQ8, n >> 2), gss, nb, out + (<usize>n << 2));
  return n;
}

/**
 * One block of a 4-row group (quants at blk, scales at sp) against activation block bi: the 4 rows' contributions
 * (integer dot − offset correction) · weight scale · activation scale, as f32x4.
 */
// @ts-ignore: decorator
@inline function blockDot<W>(blk: usize, sp: usize, x16: usize, x8: usize, dx: usize, corr: usize, bi: usize, m: v128, mb: v128): v128 {
  const isQ8 = isSigned<W>();
  const q = blk + quantOff(isQ8);
  let r: v128;
  if (!isQ8) r = nibbleDot(q, x8 + (bi << 5), mb);
  else {
    const xo = x16 + (bi << 6);
    const xa = v128.load(xo), xb = v128.load(xo, 16), xc = v128.load(xo, 32), xd = v128.load(xo, 48);
    const p0 = dotQ8(q, xa, xb, xc, xd, mb), p1 = dotQ8(q + 32, xa, xb, xc, xd, mb);
    const p2 = dotQ8(q + 64, xa, xb, xc, xd, mb), p3 = dotQ8(q + 96, xa, xb, xc, xd, mb);
    // Horizontal sums of p0..p3 into one vector [Σp0, Σp1, Σp2, Σp3] (4 unpack shuffles, 3 adds).
    const t0 = i32x4.add(v128.shuffle<i32>(p0, p1, 0, 4, 1, 5), v128.shuffle<i32>(p0, p1, 2, 6, 3, 7));
    const t1 = i32x4.add(v128.shuffle<i32>(p2, p3, 0, 4, 1, 5), v128.shuffle<i32>(p2, p3, 2, 6, 3, 7));
    r = i32x4.add(v128.shuffle<i32>(t0, t1, 0, 1, 4, 5), v128.shuffle<i32>(t0, t1, 2, 3, 6, 7));
  }
  // The stored offsets times Σq, the same for the 4 rows: q4_0 nibbles are w + 8 (corr = 8·Σq), q8_0 bytes w + 128.
  const c = load<i32>(corr + (bi << 4));
  r = i32x4.sub(r, i32x4.splat(isQ8 ? c << 4 : c));
  return f32x4.mul(f32x4.convert_i32x4_s(r), f32x4.mul(halfBitsF32x4(sp, m), f32x4.splat(load<f32>(dx + (bi << 2)))));
}

/** Rows 4g … 4g+3 of one group against one activation row: [out0, out1, out2, out3]. */
function tile4<W>(x16: usize, x8: usize, dx: usize, corr: usize, g: usize, sp: usize, nb: i32): v128 {
  const bs = blockStride(isSigned<W>());
  // once a call: V8 would rematerialize a constant operand in the loop; mb: the quants' mask (blockDot)
  const m = v128.load(HALF_CONSTS), mb = v128.load(BYTE_CONSTS + (isSigned<W>() ? MW255 : M15));
  let acc = f32x4.splat(0);
  for (let b = 0; b < nb; b++) acc = f32x4.add(acc, blockDot<W>(g + <usize>b * bs, sp + <usize>b * scaleStep(isSigned<W>()), x16, x8, dx, corr, <usize>b, m, mb));
  return acc;
}

/** Two neighbouring groups of a quad (8 rows) at g and g + gs (scales sp, sp + gss) against one activation row, stored at out and out + 16. */
function tile8<W>(x16: usize, x8: usize, dx: usize, corr: usize, g: usize, gs: usize, sp: usize, gss: usize, nb: i32, out: usize): void {
  const bs = blockStride(isSigned<W>());
  const m = v128.load(HALF_CONSTS), mb = v128.load(BYTE_CONSTS + (isSigned<W>() ? MW255 : M15));
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const o = g + <usize>b * bs, p = sp + <usize>b * scaleStep(isSigned<W>());
    a0 = f32x4.add(a0, blockDot<W>(o, p, x16, x8, dx, corr, <usize>b, m, mb));
    a1 = f32x4.add(a1, blockDot<W>(o + gs, p + gss, x16, x8, dx, corr, <usize>b, m, mb));
  }
  v128.store(out, a0); v128.store(out, a1, 16);
}

/** Four neighbouring groups (16 rows) at g, g + gs, g + 2 gs, g + 3 gs, scales at sp + k·gss (q4_0; q8_0 has tile16Q8). */
function tile16<W>(x16: usize, x8: usize, dx: usize, corr: usize, g: usize, gs: usize, sp: usize, gss: usize, nb: i32, out: usize): void {
  const bs = blockStride(isSigned<W>());
  const m = v128.load(HALF_CONSTS), mb = v128.load(BYTE_CONSTS + (isSigned<W>() ? MW255 : M15));
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const o = g + <usize>b * bs, p = sp + <usize>b * scaleStep(isSigned<W>());
    a0 = f32x4.add(a0, blockDot<W>(o, p, x16, x8, dx, corr, <usize>b, m, mb));
    a1 = f32x4.add(a1, blockDot<W>(o + gs, p + gss, x16, x8, dx, corr, <usize>b, m, mb));
    a2 = f32x4.add(a2, blockDot<W>(o + 2 * gs, p + 2 * gss, x16, x8, dx, corr, <usize>b, m, mb));
    a3 = f32x4.add(a3, blockDot<W>(o + 3 * gs, p + 3 * gss, x16, x8, dx, corr, <usize>b, m, mb));
  }
  v128.store(out, a0); v128.store(out, a1, 16); v128.store(out, a2, 32); v128.store(out, a3, 48);
}

/**
 * One q8_0 group's block (4 rows at q, scales at p) added to a: blockDot<i8>'s arithmetic, op for op, in two basic
 * blocks of two rows each, the masks loaded where they are used. As one block (tile16<i8>), V8 11 (Node 20) loaded
 * all 16 rows' bytes ahead of their dots and spilled 102 vectors a trip (`wasm_asm.mjs tile16Q8`: now the four
 * accumulators' 33 moves); newer V8s spill neither.
 */
// @ts-ignore: decorator
@inline function groupQ8(a: v128, q: usize, p: usize, xa: v128, xb: v128, xc: v128, xd: v128, c: v128, d: v128): v128 {
  let t0 = i32x4.splat(0);
  // q >= 1024: both conditions always hold; they only end the basic blocks
  if (q != 1) {
    const mb = v128.load(BYTE_CONSTS, MW255);
    const p0 = dotQ8(q, xa, xb, xc, xd, mb), p1 = dotQ8(q + 32, xa, xb, xc, xd, mb);
    t0 = i32x4.add(v128.shuffle<i32>(p0, p1, 0, 4, 1, 5), v128.shuffle<i32>(p0, p1, 2, 6, 3, 7));
  }
  if (q != 2) {
    const mb = v128.load(BYTE_CONSTS, MW255);
    const p2 = dotQ8(q + 64, xa, xb, xc, xd, mb), p3 = dotQ8(q + 96, xa, xb, xc, xd, mb);
    const t1 = i32x4.add(v128.shuffle<i32>(p2, p3, 0, 4, 1, 5), v128.shuffle<i32>(p2, p3, 2, 6, 3, 7));
    const r = i32x4.sub(i32x4.add(v128.shuffle<i32>(t0, t1, 0, 1, 4, 5), v128.shuffle<i32>(t0, t1, 2, 3, 6, 7)), c);
    a = f32x4.add(a, f32x4.mul(f32x4.convert_i32x4_s(r), f32x4.mul(halfBitsF32x4(p, v128.load(HALF_CONSTS)), d)));
  }
  return a;
}

/** tile16 for q8_0 (a quad's 4 groups, block b of the quad at g + 512 b, scales at sp + 32 b). */
function tile16Q8(x16: usize, dx: usize, corr: usize, g: usize, sp: usize, nb: i32, out: usize): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let o = g, p = sp, xo = x16;
  for (let b = 0; b < nb; b++) {
    const c = i32x4.splat(load<i32>(corr + (<usize>b << 4)) << 4), d = f32x4.splat(load<f32>(dx + (<usize>b << 2)));
    const xa = v128.load(xo), xb = v128.load(xo, 16), xc = v128.load(xo, 32), xd = v128.load(xo, 48);
    a0 = groupQ8(a0, o, p, xa, xb, xc, xd, c, d);
    a1 = groupQ8(a1, o + 128, p + 8, xa, xb, xc, xd, c, d);
    a2 = groupQ8(a2, o + 256, p + 16, xa, xb, xc, xd, c, d);
    a3 = groupQ8(a3, o + 384, p + 24, xa, xb, xc, xd, c, d);
    o += 512; p += 32; xo += 64;
  }
  v128.store(out, a0); v128.store(out, a1, 16); v128.store(out, a2, 32); v128.store(out, a3, 48);
}

/**
 * tile16Q8 in the dot-add form (W = i32): each row's 32 stored bytes (w + 128) against the activation's int8 block
 * (x8, natural order) in two dot-adds, the 4 rows' partial sums reduced as blockDot's; the same integers and float
 * step, so the same bits. 8 instructions a group block for the 32 of the pair dots (and their unpacking).
 */
function tile16Q8Dot(x8: usize, dx: usize, corr: usize, g: usize, sp: usize, nb: i32, out: usize): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  const m = v128.load(HALF_CONSTS);
  let o = g, p = sp, xo = x8;
  for (let b = 0; b < nb; b++) {
    const c = i32x4.splat(load<i32>(corr + (<usize>b << 4)) << 4), d = f32x4.splat(load<f32>(dx + (<usize>b << 2)));
    const xa = v128.load(xo), xb = v128.load(xo, 16);
    a0 = f32x4.add(a0, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(rowDots4(o, xa, xb), c)), f32x4.mul(halfBitsF32x4(p, m), d)));
    a1 = f32x4.add(a1, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(rowDots4(o + 128, xa, xb), c)), f32x4.mul(halfBitsF32x4(p + 8, m), d)));
    a2 = f32x4.add(a2, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(rowDots4(o + 256, xa, xb), c)), f32x4.mul(halfBitsF32x4(p + 16, m), d)));
    a3 = f32x4.add(a3, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(rowDots4(o + 384, xa, xb), c)), f32x4.mul(halfBitsF32x4(p + 24, m), d)));
    o += 512; p += 32; xo += 32;
  }
  v128.store(out, a0); v128.store(out, a1, 16); v128.store(out, a2, 32); v128.store(out, a3, 48);
}

/** A q8_0 group block's 4 rows (32 stored bytes each at q, q + 32, …) against the activation block xa | xb: [Σ row 0, …, Σ row 3]. */
// @ts-ignore: decorator
@inline function rowDots4(q: usize, xa: v128, xb: v128): v128 {
  const z = i32x4.splat(0);
  const p0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xb, v128.load(q, 16), i32x4.relaxed_dot_i8x16_i7x16_add_s(xa, v128.load(q), z));
  const p1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xb, v128.load(q, 48), i32x4.relaxed_dot_i8x16_i7x16_add_s(xa, v128.load(q, 32), z));
  const p2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xb, v128.load(q, 80), i32x4.relaxed_dot_i8x16_i7x16_add_s(xa, v128.load(q, 64), z));
  const p3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(xb, v128.load(q, 112), i32x4.relaxed_dot_i8x16_i7x16_add_s(xa, v128.load(q, 96), z));
  const t0 = i32x4.add(v128.shuffle<i32>(p0, p1, 0, 4, 1, 5), v128.shuffle<i32>(p0, p1, 2, 6, 3, 7));
  const t1 = i32x4.add(v128.shuffle<i32>(p2, p3, 0, 4, 1, 5), v128.shuffle<i32>(p2, p3, 2, 6, 3, 7));
  return i32x4.add(v128.shuffle<i32>(t0, t1, 0, 1, 4, 5), v128.shuffle<i32>(t0, t1, 2, 3, 6, 7));
}

/**
 * The decode activation's int8 quads broadcast (per block 8 vectors, quad u in every lane of the u-th), built
 * once per call into xb so that tile16Nibbles loads them (load ports) instead of shuffling them per group (the
 * vector ALUs its dots need) or keeping 8 of them in registers (V8 spills them).
 */
function broadcastQuads(x8: usize, nb: i32, xb: usize): void {
  for (let b = 0; b < nb; b++) {
    const xa = v128.load(x8 + (<usize>b << 5)), xc = v128.load(x8 + (<usize>b << 5), 16);
    // One copy the four groups of tile16Nibbles share (K · 4 bytes, in L1): four copies, one per group, so
    // that V8 could not merge their loads, measured 6-9 % slower (a 4× larger buffer, out of L1 at K = 5000).
    const o = xb + (<usize>b << 7);
    v128.store(o, v128.shuffle<i32>(xa, xa, 0, 0, 0, 0)); v128.store(o, v128.shuffle<i32>(xa, xa, 1, 1, 1, 1), 16);
    v128.store(o, v128.shuffle<i32>(xa, xa, 2, 2, 2, 2), 32); v128.store(o, v128.shuffle<i32>(xa, xa, 3, 3, 3, 3), 48);
    v128.store(o, v128.shuffle<i32>(xc, xc, 0, 0, 0, 0), 64); v128.store(o, v128.shuffle<i32>(xc, xc, 1, 1, 1, 1), 80);
    v128.store(o, v128.shuffle<i32>(xc, xc, 2, 2, 2, 2), 96); v128.store(o, v128.shuffle<i32>(xc, xc, 3, 3, 3, 3), 112);
  }
}

/** One group's block at q against the broadcast quads at x: blockDot's value for q4_0 (relaxed). */
// @ts-ignore: decorator
@inline function nibbleBlock<W>(q: usize, x: usize, c: v128, d: v128, m: v128, m15: v128): v128 {
  let r: v128;
  if (dotAdd<W>()) { // two chains of 4, so that the dot's latency overlaps
    const a0 = v128.load(q, 8), a1 = v128.load(q, 24), a2 = v128.load(q, 40), a3 = v128.load(q, 56);
    let s = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(x), v128.and(a0, m15), i32x4.splat(0));
    let t = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(x, 16), v128.and(a1, m15), i32x4.splat(0));
    s = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(x, 32), v128.and(a2, m15), s);
    t = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(x, 48), v128.and(a3, m15), t);
    s = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(x, 64), v128.and(i16x8.shr_u(a0, 4), m15), s);
    t = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(x, 80), v128.and(i16x8.shr_u(a1, 4), m15), t);
    s = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(x, 96), v128.and(i16x8.shr_u(a2, 4), m15), s);
    t = i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(x, 112), v128.and(i16x8.shr_u(a3, 4), m15), t);
    r = i32x4.add(s, t);
  } else r = nibbleDotRelaxed(m15, v128.load(q, 8), v128.load(q, 24), v128.load(q, 40), v128.load(q, 56),
    v128.load(x), v128.load(x, 16), v128.load(x, 32), v128.load(x, 48), v128.load(x, 64), v128.load(x, 80), v128.load(x, 96), v128.load(x, 112));
  return f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(r, c)), f32x4.mul(halfBitsF32x4(q, m), d));
}

/** tile16 for q4_0 in the relaxed build, the activation's quads broadcast at xb (broadcastQuads). */
function tile16Nibbles<W>(xb: usize, dx: usize, corr: usize, g: usize, gs: usize, nb: i32, out: usize): void {
  const m = v128.load(HALF_CONSTS), m15 = v128.load(BYTE_CONSTS, M15);
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let o = g, x = xb;
  for (let b = 0; b < nb; b++) {
    const c = i32x4.splat(load<i32>(corr + (<usize>b << 4))), d = f32x4.splat(load<f32>(dx + (<usize>b << 2)));
    a0 = f32x4.add(a0, nibbleBlock<W>(o, x, c, d, m, m15));
    a1 = f32x4.add(a1, nibbleBlock<W>(o + gs, x, c, d, m, m15));
    a2 = f32x4.add(a2, nibbleBlock<W>(o + 2 * gs, x, c, d, m, m15));
    a3 = f32x4.add(a3, nibbleBlock<W>(o + 3 * gs, x, c, d, m, m15));
    o += 288; x += 128;
  }
  v128.store(out, a0); v128.store(out, a1, 16); v128.store(out, a2, 32); v128.store(out, a3, 48);
}

// Several activation rows (a batched decode step of a few sequences, or a prompt's prefill). The decode tiles
// above unpack a group's bytes and reduce each 4-row block dot horizontally for every activation row; here each
// 4-row group is unpacked once per token block, into per-thread scratch, as 16 vectors a block of signed 16-bit
// pairs V_m = [row 0 | row 1 | row 2 | row 3] × weights (2m, 2m+1) (the stored offset taken off, so no
// correction term). An i32x4.dot_i16x8_s of V_m with the activation pair (2m, 2m+1) broadcast (q16 in element
// order) gives the 4 rows' partial sums in their own lanes: no horizontal sums, one load32_splat a dot, and
// two groups (8 rows) share each broadcast. The integer sums equal the tiles' exactly and the float side is
// blockDot's, op for op, so the outputs are bitwise those of the decode and prefill tiles.

/** Tokens a pass of matmulQuantPairs keeps its activations (≤ TBP · K · 2 bytes) in cache for. */
const TBP = 64;

/**
 * 4 rows' 16 weights each (a0 … a3: signed bytes, weight j of row r in byte j of ar) -> the 8 vectors V_m of
 * their byte pairs at o, o + 32, … (16-bit lanes). Only interleaves and extends, which engines lower to single
 * instructions.
 */
// @ts-ignore: decorator
@inline function pairsOf4(a0: v128, a1: v128, a2: v128, a3: v128, o: usize): void {
  const l01 = v128.shuffle<i16>(a0, a1, 0, 8, 1, 9, 2, 10, 3, 11), h01 = v128.shuffle<i16>(a0, a1, 4, 12, 5, 13, 6, 14, 7, 15);
  const l23 = v128.shuffle<i16>(a2, a3, 0, 8, 1, 9, 2, 10, 3, 11), h23 = v128.shuffle<i16>(a2, a3, 4, 12, 5, 13, 6, 14, 7, 15);
  const b0 = v128.shuffle<i32>(l01, l23, 0, 4, 1, 5), b1 = v128.shuffle<i32>(l01, l23, 2, 6, 3, 7);
  const b2 = v128.shuffle<i32>(h01, h23, 0, 4, 1, 5), b3 = v128.shuffle<i32>(h01, h23, 2, 6, 3, 7);
  v128.store(o, i16x8.extend_low_i8x16_s(b0)); v128.store(o, i16x8.extend_high_i8x16_s(b0), 32);
  v128.store(o, i16x8.extend_low_i8x16_s(b1), 64); v128.store(o, i16x8.extend_high_i8x16_s(b1), 96);
  v128.store(o, i16x8.extend_low_i8x16_s(b2), 128); v128.store(o, i16x8.extend_high_i8x16_s(b2), 160);
  v128.store(o, i16x8.extend_low_i8x16_s(b3), 192); v128.store(o, i16x8.extend_high_i8x16_s(b3), 224);
}

/**
 * A repacked 4-row group at g (nb blocks) -> its signed pair vectors at s: per block 512 bytes, V_m of this
 * group at 32·m, the other group of the pair at 32·m + 16 (the caller passes s or s + 16).
 */
function unpackGroup<W>(g: usize, nb: i32, s: usize): void {
  const isQ8 = isSigned<W>();
  for (let b = 0; b < nb; b++) {
    const q = g + <usize>b * blockStride(isQ8) + quantOff(isQ8), o = s + (<usize>b << 9);
    if (isQ8) { // stored + 128
      const f = v128.load(BYTE_CONSTS, M80);
      pairsOf4(v128.xor(v128.load(q), f), v128.xor(v128.load(q, 32), f), v128.xor(v128.load(q, 64), f), v128.xor(v128.load(q, 96), f), o);
      pairsOf4(v128.xor(v128.load(q, 16), f), v128.xor(v128.load(q, 48), f), v128.xor(v128.load(q, 80), f), v128.xor(v128.load(q, 112), f), o + 256);
    } else { // rows' ggml bytes back from the A_h (byte j: weight j low, j + 16 high), each nibble stored + 8
      const a0 = v128.load(q), a1 = v128.load(q, 16), a2 = v128.load(q, 32), a3 = v128.load(q, 48);
      const l01 = v128.shuffle<i32>(a0, a1, 0, 4, 1, 5), h01 = v128.shuffle<i32>(a0, a1, 2, 6, 3, 7);
      const l23 = v128.shuffle<i32>(a2, a3, 0, 4, 1, 5), h23 = v128.shuffle<i32>(a2, a3, 2, 6, 3, 7);
      const v0 = v128.shuffle<i64>(l01, l23, 0, 2), v1 = v128.shuffle<i64>(l01, l23, 1, 3);
      const v2 = v128.shuffle<i64>(h01, h23, 0, 2), v3 = v128.shuffle<i64>(h01, h23, 1, 3);
      const m = v128.load(BYTE_CONSTS, M15), e = v128.load(BYTE_CONSTS, M8);
      pairsOf4(i8x16.sub(v128.and(v0, m), e), i8x16.sub(v128.and(v1, m), e), i8x16.sub(v128.and(v2, m), e), i8x16.sub(v128.and(v3, m), e), o);
      pairsOf4(i8x16.sub(v128.and(i16x8.shr_u(v0, 4), m), e), i8x16.sub(v128.and(i16x8.shr_u(v1, 4), m), e),
        i8x16.sub(v128.and(i16x8.shr_u(v2, 4), m), e), i8x16.sub(v128.and(i16x8.shr_u(v3, 4), m), e), o + 256);
    }
  }
}

// @ts-ignore: decorator
@inline function pairDot(acc: v128, v: v128, x: v128): v128 {
  return i32x4.add(acc, i32x4.dot_i16x8_s(v, x));
}

/** blockDot's float step, accumulated in memory at o: o + r · weight scales · activation scale. */
// @ts-ignore: decorator
@inline function scaleAddAt(o: usize, r: v128, ws: v128, d: f32): void {
  v128.store(o, f32x4.add(v128.load(o), f32x4.mul(f32x4.convert_i32x4_s(r), f32x4.mul(ws, f32x4.splat(d)))));
}


/**
 * Four activation rows (their interleaved q16, or for q4_0's nibble quads q8, at x; scales at d and corrections
 * at c, see quantizeAct) against a pair of groups' unpacked pairs or quads at s (scales of the repacked groups at
 * g0, g1): the 4 × 8 outputs accumulated block by block in acc (4 rows of 32 bytes, zeroed here). Each row's
 * pair (quad) is broadcast from memory (vbroadcastss, on a load port): lane shuffles of one load, vector
 * instructions beside the dots, were 5-8 % slower on an AMD Zen 5.
 */
function tile4x8<W>(x: usize, d: usize, c: usize, s: usize, g0: usize, g1: usize, nb: i32, acc: usize): void {
  const z = f32x4.splat(0), m = v128.load(HALF_CONSTS), one = v128.load(BYTE_CONSTS, MW1);
  v128.store(acc, z); v128.store(acc, z, 16); v128.store(acc, z, 32); v128.store(acc, z, 48);
  v128.store(acc, z, 64); v128.store(acc, z, 80); v128.store(acc, z, 96); v128.store(acc, z, 112);
  let p = s;
  for (let b = 0; b < nb; b++) {
    // A block's steps written out with literal offsets (no loop counter, 24-29 % fewer instructions a block than
    // a do-while of one step), each its own basic block (`if (p != k)`: p >= 1024, always taken) so that V8 does
    // not load every step's vectors first and spill them. Step 0 starts the sums (no zeros to merge at a join).
    const va0 = v128.load(p), vb0 = v128.load(p, 16);
    let xt0 = v128.load32_splat(x), r00 = first<W>(va0, xt0), r01 = first<W>(vb0, xt0);
    xt0 = v128.load32_splat(x, 4); let r10 = first<W>(va0, xt0), r11 = first<W>(vb0, xt0);
    xt0 = v128.load32_splat(x, 8); let r20 = first<W>(va0, xt0), r21 = first<W>(vb0, xt0);
    xt0 = v128.load32_splat(x, 12); let r30 = first<W>(va0, xt0), r31 = first<W>(vb0, xt0);
    // BEGIN tile4x8 steps (scripts/gen_steps.mjs)
    if (p != 2) {
      const va = v128.load(p, 32), vb = v128.load(p, 48);
      let xt = v128.load32_splat(x, 16); r00 = step<W>(r00, va, xt); r01 = step<W>(r01, vb, xt);
      xt = v128.load32_splat(x, 20); r10 = step<W>(r10, va, xt); r11 = step<W>(r11, vb, xt);
      xt = v128.load32_splat(x, 24); r20 = step<W>(r20, va, xt); r21 = step<W>(r21, vb, xt);
      xt = v128.load32_splat(x, 28); r30 = step<W>(r30, va, xt); r31 = step<W>(r31, vb, xt);
    }
    if (p != 3) {
      const va = v128.load(p, 64), vb = v128.load(p, 80);
      let xt = v128.load32_splat(x, 32); r00 = step<W>(r00, va, xt); r01 = step<W>(r01, vb, xt);
      xt = v128.load32_splat(x, 36); r10 = step<W>(r10, va, xt); r11 = step<W>(r11, vb, xt);
      xt = v128.load32_splat(x, 40); r20 = step<W>(r20, va, xt); r21 = step<W>(r21, vb, xt);
      xt = v128.load32_splat(x, 44); r30 = step<W>(r30, va, xt); r31 = step<W>(r31, vb, xt);
    }
    if (p != 4) {
      const va = v128.load(p, 96), vb = v128.load(p, 112);
      let xt = v128.load32_splat(x, 48); r00 = step<W>(r00, va, xt); r01 = step<W>(r01, vb, xt);
      xt = v128.load32_splat(x, 52); r10 = step<W>(r10, va, xt); r11 = step<W>(r11, vb, xt);
      xt = v128.load32_splat(x, 56); r20 = step<W>(r20, va, xt); r21 = step<W>(r21, vb, xt);
      xt = v128.load32_splat(x, 60); r30 = step<W>(r30, va, xt); r31 = step<W>(r31, vb, xt);
    }
    if (p != 5) {
      const va = v128.load(p, 128), vb = v128.load(p, 144);
      let xt = v128.load32_splat(x, 64); r00 = step<W>(r00, va, xt); r01 = step<W>(r01, vb, xt);
      xt = v128.load32_splat(x, 68); r10 = step<W>(r10, va, xt); r11 = step<W>(r11, vb, xt);
      xt = v128.load32_splat(x, 72); r20 = step<W>(r20, va, xt); r21 = step<W>(r21, vb, xt);
      xt = v128.load32_splat(x, 76); r30 = step<W>(r30, va, xt); r31 = step<W>(r31, vb, xt);
    }
    if (p != 6) {
      const va = v128.load(p, 160), vb = v128.load(p, 176);
      let xt = v128.load32_splat(x, 80); r00 = step<W>(r00, va, xt); r01 = step<W>(r01, vb, xt);
      xt = v128.load32_splat(x, 84); r10 = step<W>(r10, va, xt); r11 = step<W>(r11, vb, xt);
      xt = v128.load32_splat(x, 88); r20 = step<W>(r20, va, xt); r21 = step<W>(r21, vb, xt);
      xt = v128.load32_splat(x, 92); r30 = step<W>(r30, va, xt); r31 = step<W>(r31, vb, xt);
    }
    if (p != 7) {
      const va = v128.load(p, 192), vb = v128.load(p, 208);
      let xt = v128.load32_splat(x, 96); r00 = step<W>(r00, va, xt); r01 = step<W>(r01, vb, xt);
      xt = v128.load32_splat(x, 100); r10 = step<W>(r10, va, xt); r11 = step<W>(r11, vb, xt);
      xt = v128.load32_splat(x, 104); r20 = step<W>(r20, va, xt); r21 = step<W>(r21, vb, xt);
      xt = v128.load32_splat(x, 108); r30 = step<W>(r30, va, xt); r31 = step<W>(r31, vb, xt);
    }
    if (p != 8) {
      const va = v128.load(p, 224), vb = v128.load(p, 240);
      let xt = v128.load32_splat(x, 112); r00 = step<W>(r00, va, xt); r01 = step<W>(r01, vb, xt);
      xt = v128.load32_splat(x, 116); r10 = step<W>(r10, va, xt); r11 = step<W>(r11, vb, xt);
      xt = v128.load32_splat(x, 120); r20 = step<W>(r20, va, xt); r21 = step<W>(r21, vb, xt);
      xt = v128.load32_splat(x, 124); r30 = step<W>(r30, va, xt); r31 = step<W>(r31, vb, xt);
    }
    if (!quadForm<W>()) {
      if (p != 9) {
        const va = v128.load(p, 256), vb = v128.load(p, 272);
        let xt = v128.load32_splat(x, 128); r00 = step<W>(r00, va, xt); r01 = step<W>(r01, vb, xt);
        xt = v128.load32_splat(x, 132); r10 = step<W>(r10, va, xt); r11 = step<W>(r11, vb, xt);
        xt = v128.load32_splat(x, 136); r20 = step<W>(r20, va, xt); r21 = step<W>(r21, vb, xt);
        xt = v128.load32_splat(x, 140); r30 = step<W>(r30, va, xt); r31 = step<W>(r31, vb, xt);
      }
      if (p != 10) {
        const va = v128.load(p, 288), vb = v128.load(p, 304);
        let xt = v128.load32_splat(x, 144); r00 = step<W>(r00, va, xt); r01 = step<W>(r01, vb, xt);
        xt = v128.load32_splat(x, 148); r10 = step<W>(r10, va, xt); r11 = step<W>(r11, vb, xt);
        xt = v128.load32_splat(x, 152); r20 = step<W>(r20, va, xt); r21 = step<W>(r21, vb, xt);
        xt = v128.load32_splat(x, 156); r30 = step<W>(r30, va, xt); r31 = step<W>(r31, vb, xt);
      }
      if (p != 11) {
        const va = v128.load(p, 320), vb = v128.load(p, 336);
        let xt = v128.load32_splat(x, 160); r00 = step<W>(r00, va, xt); r01 = step<W>(r01, vb, xt);
        xt = v128.load32_splat(x, 164); r10 = step<W>(r10, va, xt); r11 = step<W>(r11, vb, xt);
        xt = v128.load32_splat(x, 168); r20 = step<W>(r20, va, xt); r21 = step<W>(r21, vb, xt);
        xt = v128.load32_splat(x, 172); r30 = step<W>(r30, va, xt); r31 = step<W>(r31, vb, xt);
      }
      if (p != 12) {
        const va = v128.load(p, 352), vb = v128.load(p, 368);
        let xt = v128.load32_splat(x, 176); r00 = step<W>(r00, va, xt); r01 = step<W>(r01, vb, xt);
        xt = v128.load32_splat(x, 180); r10 = step<W>(r10, va, xt); r11 = step<W>(r11, vb, xt);
        xt = v128.load32_splat(x, 184); r20 = step<W>(r20, va, xt); r21 = step<W>(r21, vb, xt);
        xt = v128.load32_splat(x, 188); r30 = step<W>(r30, va, xt); r31 = step<W>(r31, vb, xt);
      }
      if (p != 13) {
        const va = v128.load(p, 384), vb = v128.load(p, 400);
        let xt = v128.load32_splat(x, 192); r00 = step<W>(r00, va, xt); r01 = step<W>(r01, vb, xt);
        xt = v128.load32_splat(x, 196); r10 = step<W>(r10, va, xt); r11 = step<W>(r11, vb, xt);
        xt = v128.load32_splat(x, 200); r20 = step<W>(r20, va, xt); r21 = step<W>(r21, vb, xt);
        xt = v128.load32_splat(x, 204); r30 = step<W>(r30, va, xt); r31 = step<W>(r31, vb, xt);
      }
      if (p != 14) {
        const va = v128.load(p, 416), vb = v128.load(p, 432);
        let xt = v128.load32_splat(x, 208); r00 = step<W>(r00, va, xt); r01 = step<W>(r01, vb, xt);
        xt = v128.load32_splat(x, 212); r10 = step<W>(r10, va, xt); r11 = step<W>(r11, vb, xt);
        xt = v128.load32_splat(x, 216); r20 = step<W>(r20, va, xt); r21 = step<W>(r21, vb, xt);
        xt = v128.load32_splat(x, 220); r30 = step<W>(r30, va, xt); r31 = step<W>(r31, vb, xt);
      }
      if (p != 15) {
        const va = v128.load(p, 448), vb = v128.load(p, 464);
        let xt = v128.load32_splat(x, 224); r00 = step<W>(r00, va, xt); r01 = step<W>(r01, vb, xt);
        xt = v128.load32_splat(x, 228); r10 = step<W>(r10, va, xt); r11 = step<W>(r11, vb, xt);
        xt = v128.load32_splat(x, 232); r20 = step<W>(r20, va, xt); r21 = step<W>(r21, vb, xt);
        xt = v128.load32_splat(x, 236); r30 = step<W>(r30, va, xt); r31 = step<W>(r31, vb, xt);
      }
      if (p != 16) {
        const va = v128.load(p, 480), vb = v128.load(p, 496);
        let xt = v128.load32_splat(x, 240); r00 = step<W>(r00, va, xt); r01 = step<W>(r01, vb, xt);
        xt = v128.load32_splat(x, 244); r10 = step<W>(r10, va, xt); r11 = step<W>(r11, vb, xt);
        xt = v128.load32_splat(x, 248); r20 = step<W>(r20, va, xt); r21 = step<W>(r21, vb, xt);
        xt = v128.load32_splat(x, 252); r30 = step<W>(r30, va, xt); r31 = step<W>(r31, vb, xt);
      }
    }
    // END tile4x8 steps
    if (!quadForm<W>()) { p += 512; x += 256; } else { p += 256; x += 128; }
    // blockDot's float step for each of the 8 (row group, token) pairs, accumulated in acc
    // each token's scale and correction broadcast from memory (load ports), as the activations are
    const w0 = halfBitsF32x4(g0, m), w1 = halfBitsF32x4(g1, m);
    g0 += scaleStep(isSigned<W>()); g1 += scaleStep(isSigned<W>());
    let dt = v128.load32_splat(d), ct = v128.load32_splat(c);
    v128.store(acc, f32x4.add(v128.load(acc), f32x4.mul(f32x4.convert_i32x4_s(finish<W>(r00, ct, one)), f32x4.mul(w0, dt))));
    v128.store(acc, f32x4.add(v128.load(acc, 16), f32x4.mul(f32x4.convert_i32x4_s(finish<W>(r01, ct, one)), f32x4.mul(w1, dt))), 16);
    dt = v128.load32_splat(d, 4); ct = v128.load32_splat(c, 4);
    v128.store(acc, f32x4.add(v128.load(acc, 32), f32x4.mul(f32x4.convert_i32x4_s(finish<W>(r10, ct, one)), f32x4.mul(w0, dt))), 32);
    v128.store(acc, f32x4.add(v128.load(acc, 48), f32x4.mul(f32x4.convert_i32x4_s(finish<W>(r11, ct, one)), f32x4.mul(w1, dt))), 48);
    dt = v128.load32_splat(d, 8); ct = v128.load32_splat(c, 8);
    v128.store(acc, f32x4.add(v128.load(acc, 64), f32x4.mul(f32x4.convert_i32x4_s(finish<W>(r20, ct, one)), f32x4.mul(w0, dt))), 64);
    v128.store(acc, f32x4.add(v128.load(acc, 80), f32x4.mul(f32x4.convert_i32x4_s(finish<W>(r21, ct, one)), f32x4.mul(w1, dt))), 80);
    dt = v128.load32_splat(d, 12); ct = v128.load32_splat(c, 12);
    v128.store(acc, f32x4.add(v128.load(acc, 96), f32x4.mul(f32x4.convert_i32x4_s(finish<W>(r30, ct, one)), f32x4.mul(w0, dt))), 96);
    v128.store(acc, f32x4.add(v128.load(acc, 112), f32x4.mul(f32x4.convert_i32x4_s(finish<W>(r31, ct, one)), f32x4.mul(w1, dt))), 112);
    d += 16; c += 16;
  }
}

/** The first step of tile4x8: step<W> from zero sums. */
// @ts-ignore: decorator
@inline function first<W>(v: v128, x: v128): v128 {
  if (dotAdd<W>()) return i32x4.relaxed_dot_i8x16_i7x16_add_s(x, v, i32x4.splat(0));
  if (!isSigned<W>() && ASC_FEATURE_RELAXED_SIMD) return i16x8.relaxed_dot_i8x16_i7x16_s(x, v);
  return i32x4.dot_i16x8_s(v, x);
}

/**
 * One step of tile4x8: q8_0 (and q4_0 in the plain build) a 16-bit pair dot into i32, q4_0 relaxed a quad dot into
 * i16, or with dotAdd<W> straight into i32.
 */
// @ts-ignore: decorator
@inline function step<W>(r: v128, v: v128, x: v128): v128 {
  if (dotAdd<W>()) return i32x4.relaxed_dot_i8x16_i7x16_add_s(x, v, r);
  if (!isSigned<W>() && ASC_FEATURE_RELAXED_SIMD) return i16x8.add(r, i16x8.relaxed_dot_i8x16_i7x16_s(x, v));
  return i32x4.add(r, i32x4.dot_i16x8_s(v, x));
}

/** A block's integer sums as i32 with the stored offset off: the pairs are signed already; the quads' +8 is ct. */
// @ts-ignore: decorator
@inline function finish<W>(r: v128, ct: v128, one: v128): v128 {
  if (dotAdd<W>()) return i32x4.sub(r, isSigned<W>() ? i32x4.shl(ct, 4) : ct);
  if (!isSigned<W>() && ASC_FEATURE_RELAXED_SIMD) return i32x4.sub(i32x4.dot_i16x8_s(r, one), ct); // one: MW1
  return r;
}

/** A repacked q4_0 group at g -> its nibble quads at s: per block 256 bytes, U_u at 32·u (+ 16: the pair's other group). */
function unpackNibbles(g: usize, nb: i32, s: usize): void {
  const m = v128.load(BYTE_CONSTS, M15);
  for (let b = 0; b < nb; b++) {
    const q = g + <usize>b * blockStride(false) + 8, o = s + (<usize>b << 8);
    const a0 = v128.load(q), a1 = v128.load(q, 16), a2 = v128.load(q, 32), a3 = v128.load(q, 48);
    v128.store(o, v128.and(a0, m)); v128.store(o, v128.and(a1, m), 32);
    v128.store(o, v128.and(a2, m), 64); v128.store(o, v128.and(a3, m), 96);
    v128.store(o, v128.and(i16x8.shr_u(a0, 4), m), 128); v128.store(o, v128.and(i16x8.shr_u(a1, 4), m), 160);
    v128.store(o, v128.and(i16x8.shr_u(a2, 4), m), 192); v128.store(o, v128.and(i16x8.shr_u(a3, 4), m), 224);
  }
}

/** A repacked q8_0 group at g -> its stored bytes' quads at s (unpackNibbles' layout): U_u lane r = row r's bytes 4u … 4u+3. */
function unpackQuadsQ8(g: usize, nb: i32, s: usize): void {
  for (let b = 0; b < nb; b++) {
    const q = g + <usize>b * blockStride(true), o = s + (<usize>b << 8);
    for (let h: usize = 0; h < 32; h += 16) {
      const r0 = v128.load(q + h), r1 = v128.load(q + h, 32), r2 = v128.load(q + h, 64), r3 = v128.load(q + h, 96);
      const l01 = v128.shuffle<i32>(r0, r1, 0, 4, 1, 5), h01 = v128.shuffle<i32>(r0, r1, 2, 6, 3, 7);
      const l23 = v128.shuffle<i32>(r2, r3, 0, 4, 1, 5), h23 = v128.shuffle<i32>(r2, r3, 2, 6, 3, 7);
      const u = o + (h << 3); // quads 0-3, then 4-7 (h = 16: 128 bytes on)
      v128.store(u, v128.shuffle<i64>(l01, l23, 0, 2)); v128.store(u, v128.shuffle<i64>(l01, l23, 1, 3), 32);
      v128.store(u, v128.shuffle<i64>(h01, h23, 0, 2), 64); v128.store(u, v128.shuffle<i64>(h01, h23, 1, 3), 96);
    }
  }
}

/**
 * One activation row (its interleaved q16 or q8 at x: 4-byte pairs or quads 16 bytes apart; its scale and
 * correction at d, c) against a pair of groups' pairs or quads at s: the 8 outputs at acc (32 bytes, zeroed here).
 */
function tile1x8<W>(x: usize, d: usize, c: usize, s: usize, g0: usize, g1: usize, nb: i32, acc: usize): void {
  const z = f32x4.splat(0), m = v128.load(HALF_CONSTS), one = v128.load(BYTE_CONSTS, MW1);
  v128.store(acc, z); v128.store(acc, z, 16);
  let p = s;
  for (let b = 0; b < nb; b++) {
    let r0 = i32x4.splat(0), r1 = i32x4.splat(0);
    const pe = p + (!quadForm<W>() ? 512 : 256);
    do {
      let xv = v128.load32_splat(x);
      r0 = step<W>(r0, v128.load(p), xv); r1 = step<W>(r1, v128.load(p, 16), xv);
      xv = v128.load32_splat(x, 16);
      r0 = step<W>(r0, v128.load(p, 32), xv); r1 = step<W>(r1, v128.load(p, 48), xv);
      p += 64; x += 32;
    } while (p != pe);
    const dt = f32x4.splat(load<f32>(d)), ct = i32x4.splat(load<i32>(c));
    v128.store(acc, f32x4.add(v128.load(acc), f32x4.mul(f32x4.convert_i32x4_s(finish<W>(r0, ct, one)), f32x4.mul(halfBitsF32x4(g0, m), dt))));
    v128.store(acc, f32x4.add(v128.load(acc, 16), f32x4.mul(f32x4.convert_i32x4_s(finish<W>(r1, ct, one)), f32x4.mul(halfBitsF32x4(g1, m), dt))), 16);
    g0 += scaleStep(isSigned<W>()); g1 += scaleStep(isSigned<W>()); d += 16; c += 16;
  }
}

/**
 * out (T, N) rows [n0, n1) (n0 a multiple of 4) = act (T, K) · Wᵀ for T ≥ 2: per token block of TBP and pair of
 * 4-row groups, unpack the groups to s (this thread's K · 16 + 128 bytes), then pass the block's activation rows
 * over them four at a time (the rest one by one). A lone last group's partner slot is left as it is, its
 * outputs not stored.
 */
export function matmulQuantPairs<W>(out: usize, q16: usize, q8: usize, dx: usize, corr: usize, w: usize, T: i32, N: i32, K: i32,
  s: usize, n0: i32, n1: i32): void {
  const nibbles = quadForm<W>(); // 4-byte quads against i8 activation quads (q4_0's nibbles, q8_0's dot-add form)
  const isQ8 = isSigned<W>(), nb = K >> 5;
  const sc = scalesOf(w, N, nb, isQ8);
  // bytes of 4 rows' interleaved q16, q8, and dx or corr
  const xg = <usize>nb << 8, bg = <usize>nb << 7, dg = <usize>nb << 4, os = <usize>N << 2;
  const acc = s + (<usize>nb << 9);
  for (let tb = 0; tb < T; tb += TBP) {
    const te = min(T, tb + TBP);
    for (let n = n0; n < n1; n += 8) {
      const two = n + 4 < n1;
      // A batched decode step's few tokens leave the unpacking waiting on DRAM (a pair reads two 4-row groups of a
      // quad, 128 bytes of every 512): the next quad's lines are touched in one sequential pass first.
      if (te - tb <= 16 && (n & 15) == 0 && n + 16 < n1 && n + 32 <= N) touchLines(groupAt(w, nb, isQ8, (n >> 2) + 4), <usize>nb * blockStride(isQ8));
      const g0 = groupAt(w, nb, isQ8, n >> 2), g1 = two ? groupAt(w, nb, isQ8, (n >> 2) + 1) : g0;
      const sp0 = scalesAt(sc, nb, isQ8, n >> 2), sp1 = two ? scalesAt(sc, nb, isQ8, (n >> 2) + 1) : sp0;
      if (nibbles && isQ8) {
        unpackQuadsQ8(g0, nb, s);
        if (two) unpackQuadsQ8(g1, nb, s + 16);
      } else if (nibbles) {
        unpackNibbles(g0, nb, s);
        if (two) unpackNibbles(g1, nb, s + 16);
      } else {
        unpackGroup<W>(g0, nb, s);
        if (two) unpackGroup<W>(g1, nb, s + 16);
      }
      const cols = n1 - n, o = out + (<usize>n << 2);
      let t = tb;
      for (; t + 4 <= te; t += 4) {
        const tg = <usize>(t >> 2);
        tile4x8<W>(nibbles ? q8 + tg * bg : q16 + tg * xg, dx + tg * dg, corr + tg * dg, s, sp0, sp1, nb, acc);
        for (let k = 0; k < 4; k++) {
          const ot = o + <usize>(t + k) * os, a = acc + (<usize>k << 5);
          storeCols(ot, v128.load(a), cols); storeCols(ot + 16, v128.load(a, 16), cols - 4);
        }
      }
      for (; t < te; t++) {
        const tg = <usize>(t >> 2), lane = <usize>(t & 3) << 2;
        tile1x8<W>((nibbles ? q8 + tg * bg : q16 + tg * xg) + lane, dx + tg * dg + lane, corr + tg * dg + lane, s, sp0, sp1, nb, acc);
        const ot = o + <usize>t * os;
        storeCols(ot, v128.load(acc), cols); storeCols(ot + 16, v128.load(acc, 16), cols - 4);
      }
    }
  }
}

/** xorshift32 */
// @ts-ignore: decorator
@inline function nextRand(r: u32): u32 { r ^= r << 13; r ^= r >> 17; return r ^ (r << 5); }

/**
 * The host's probe of the dot-add forms (dotAdd). mode 0: one i32x4.relaxed_dot_i8x16_i7x16_add_s of the i8 vector at
 * p, the vector at p + 16 and the i32x4 at p + 32, stored at p + 48, for the host to check against exact sums.
 * mode 1 / 2: n passes of tile4x8 over nb = 40 blocks in q4_0's dot-add / u8 form (p: 64 KiB of zeros, so no
 * scale widens to a subnormal), for the host to time. mode 3: q4_0's tile4x8, tile1x8 and tile16Nibbles in both
 * forms on pseudo-random inputs (seed n); mode 4: q8_0's unpacked-pairs kernel (6 activation rows) and decode
 * tiles (2 rows) in both forms on a random 20 × 96 matrix; mode 5: the four-token prefill tile of q4_K, q5_K and q6_K in both
 * forms on 16 random rows and 5 tokens. Modes 3-5 write over the 64 KiB and return how many outputs differ
 * (none may, bit for bit).
 */
export function dotAddProbe(p: usize, mode: i32, n: i32): i32 {
  if (mode == 0) { // the plain build stores nothing
    if (ASC_FEATURE_RELAXED_SIMD) v128.store(p, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(p), v128.load(p, 16), v128.load(p, 32)), 48);
    return 0;
  }
  const nb = 40, x = p, s = p + 8192, g = p + 20480, d = p + 32768, c = p + 36864, out = p + 61440;
  let r: u32 = <u32>n | 1, bad = 0;
  if (mode == 3) {
    for (let o: usize = 0; o < 36864; o += 4) { // activations, nibbles (s: 0…15), scales and group blocks
      r = nextRand(r);
      store<u32>(p + o, o >= 8192 && o < 20480 ? r & 0x0f0f0f0f : r);
    }
    for (let i: usize = 0; i < 160; i++) { // scales and corrections: 4 tokens' (tile4x8) of 40 blocks
      r = nextRand(r);
      store<f32>(d + (i << 2), <f32>(r & 0xffff) / 65536); store<i32>(c + (i << 2), <i32>(r >> 16) - 32768);
    }
    tile4x8<u32>(x, d, c, s, g, g + 72, nb, out); tile4x8<u8>(x, d, c, s, g, g + 72, nb, out + 128);
    tile1x8<u32>(x + 4, d + 4, c + 4, s, g, g + 72, nb, out + 256); tile1x8<u8>(x + 4, d + 4, c + 4, s, g, g + 72, nb, out + 288);
    if (ASC_FEATURE_RELAXED_SIMD) { tile16Nibbles<u32>(x, d, c, g, 72, nb, out + 320); tile16Nibbles<u8>(x, d, c, g, 72, nb, out + 384); }
    for (let o: usize = 0; o < 128; o += 4) bad += i32(load<u32>(out + o) != load<u32>(out + 128 + o));
    for (let o: usize = 0; o < 32; o += 4) bad += i32(load<u32>(out + 256 + o) != load<u32>(out + 288 + o));
    for (let o: usize = 0; o < 64; o += 4) bad += i32(load<u32>(out + 320 + o) != load<u32>(out + 384 + o));
    return bad;
  }
  if (mode == 4) {
    const T = 6, N = 20, K = 96, xf = p, w = p + 4096, q16 = p + 8192, q8 = p + 10240, dx = p + 11264, corr = p + 11520;
    const sc = scalesOf(w, N, K >> 5, true), o1 = p + 16384, o2 = p + 20480, su = p + 24576; // su: unpacked pairs or quads
    for (let i: usize = 0; i < <usize>(T * K); i++) { r = nextRand(r); store<f32>(xf + (i << 2), <f32>(<i32>(r & 0xffff) - 32768) / 32768); }
    for (let a = w; a < sc; a += 4) { r = nextRand(r); store<u32>(a, r); } // the quants, stored + 128: any byte
    for (let a = sc; a < sc + 192; a += 2) { r = nextRand(r); store<u16>(a, <u16>(0x2000 | (r & 0x83ff))); } // halves ±[2^-7, 2^-6)
    quantizeAct(xf, K, q16, q8, dx, corr, true, 1, 0, T);
    matmulQuantPairs<i32>(o1, q16, q8, dx, corr, w, T, N, K, su, 0, N);
    matmulQuantPairs<i8>(o2, q16, q8, dx, corr, w, T, N, K, su, 0, N);
    for (let o: usize = 0; o < <usize>(T * N * 4); o += 4) bad += i32(load<u32>(o1 + o) != load<u32>(o2 + o));
    // The decode tiles (activations per row, not interleaved), 2 rows.
    const q16n = p + 28672, q8n = p + 29696, dxn = p + 30208, corrn = p + 30464, o3 = p + 32768, o4 = p + 36864;
    quantizeAct(xf, K, q16n, q8n, dxn, corrn, false, 1, 0, 2);
    matmulQuant<i32>(o3, q16n, q8n, dxn, corrn, w, 2, N, K, su, 0, N);
    matmulQuant<i8>(o4, q16n, q8n, dxn, corrn, w, 2, N, K, su, 0, N);
    for (let o: usize = 0; o < <usize>(2 * N * 4); o += 4) bad += i32(load<u32>(o3 + o) != load<u32>(o4 + o));
    return bad;
  }
  if (mode == 5) { // the K-quants' four-token prefill tile, 16 random rows of K = 512 (2 super-blocks) and 5 tokens
    const T = 5, K = 512, xf = p, w = p + 12288, q8 = p + 18432, dxk = p + 21504, sums = p + 21632, off = p + 22016;
    const o1 = p + 23040, o2 = p + 24064;
    for (let i: usize = 0; i < <usize>(T * K); i++) { r = nextRand(r); store<f32>(xf + (i << 2), <f32>(<i32>(r & 0xffff) - 32768) / 32768); }
    for (let kind = KQ_Q4_K; kind <= KQ_Q6_K; kind++) {
      // q4_K / q5_K: d and dmin halves ±[2^-7, 2^-6) (bytes 0 … 63), their widening factor in the activation scales
      // (matmul_kquant.ts), 6-bit scales and mins (64 … 319); q6_K: d small floats (0 … 63); any bits past them
      const halves = kind != KQ_Q6_K;
      quantizeActK(xf, K, q8, dxk, sums, off, halves ? <f32>5.192296858534828e33 : 1, 0, T); // 2^112
      const sb = 4 * kqGroupBytes(kind); // a quad's super-block
      for (let a: usize = 0; a < 2 * sb; a += 4) {
        r = nextRand(r);
        const o = a % sb;
        if (o < 64 && halves) store<u32>(w + a, 0x20002000 | (r & 0x83ff83ff));
        else if (o < 64) store<f32>(w + a, <f32>(r & 0xffff) / 4194304);
        else store<u32>(w + a, o < 320 && halves ? r & 0x3f3f3f3f : r);
      }
      matmulKQuant(o1, q8, dxk, sums, off, w, kind | KQ_DOT_ADD, T, 16, K, 0, 16);
      matmulKQuant(o2, q8, dxk, sums, off, w, kind, T, 16, K, 0, 16);
      for (let o: usize = 0; o < <usize>(T * 16 * 4); o += 4) bad += i32(load<u32>(o1 + o) != load<u32>(o2 + o));
    }
    return bad;
  }
  for (let i = 0; i < n; i++) {
    if (mode == 1) tile4x8<u32>(x, d, d, s, g, g + 72, nb, out);
    else tile4x8<u8>(x, d, d, s, g, g + 72, nb, out);
  }
  return 0;
}
