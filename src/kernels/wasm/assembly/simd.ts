// Small SIMD helpers shared by the kernels. FMA is a real fused multiply-add only in the relaxed-SIMD build
// (f32x4.relaxed_madd); the plain build uses mul + add. ASC_FEATURE_RELAXED_SIMD is a compile-time constant,
// so each build keeps one branch.

// @ts-ignore: decorator
@inline export function fma(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

// @ts-ignore: decorator
@inline export function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

// @ts-ignore: decorator
@inline export function hsumI32(v: v128): i32 {
  return i32x4.extract_lane(v, 0) + i32x4.extract_lane(v, 1) + i32x4.extract_lane(v, 2) + i32x4.extract_lane(v, 3);
}

/** Dot product of n floats at a and b (any n; SIMD body, scalar tail). */
export function dotF32(a: usize, b: usize, n: i32): f32 {
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const o = <usize>i << 2;
    s0 = fma(v128.load(a + o), v128.load(b + o), s0);
    s1 = fma(v128.load(a + o, 16), v128.load(b + o, 16), s1);
  }
  if (i + 4 <= n) {
    const o = <usize>i << 2;
    s0 = fma(v128.load(a + o), v128.load(b + o), s0);
    i += 4;
  }
  let s = hsum(f32x4.add(s0, s1));
  for (; i < n; i++) s += load<f32>(a + (<usize>i << 2)) * load<f32>(b + (<usize>i << 2));
  return s;
}

/**
 * IEEE half bits -> f32 (exact for finite values, subnormals included): the half's sign, exponent and mantissa
 * placed as an f32's (sign at bit 31 by an arithmetic shift, exponent and mantissa at bits 13…27, bits 28…30
 * cleared), which is the value · 2^-112; the multiply by 2^112 rebiases the exponent and keeps the sign.
 */
export function halfToF32(h: u32): f32 {
  return reinterpret<f32>(((<i32>(h << 16)) >> 3) & 0x8fffe000) * reinterpret<f32>(0x77800000);
}

/**
 * Four halves in the low 16 bits of each u32 lane -> f32x4. Exact for finite values (subnormals too: the
 * multiply by 2^112 rebiases them); ±Inf/NaN are not preserved, which weights never hold.
 */
// @ts-ignore: decorator
@inline export function halfLowToF32x4(v: v128): v128 {
  return halfHighToF32x4(i32x4.shl(v, 16));
}

/** As halfLowToF32x4 for the halves in the high 16 bits of each lane (as halfToF32: 3 operations). */
// @ts-ignore: decorator
@inline export function halfHighToF32x4(v: v128): v128 {
  return halfHighToF32x4With(v, i32x4.splat(0x8fffe000), f32x4.splat(reinterpret<f32>(0x77800000)));
}

/**
 * The two constants of the widening, for hot loops to load once per call (v128.load(HALF_CONSTS) and
 * v128.load(HALF_CONSTS, 16)): V8 rematerializes a constant operand inside a loop, three instructions a use.
 */
export const HALF_CONSTS = memory.data<u32>([0x8fffe000, 0x8fffe000, 0x8fffe000, 0x8fffe000,
  0x77800000, 0x77800000, 0x77800000, 0x77800000], 16);

/**
 * Byte masks for hot loops to load once per call into a local, like HALF_CONSTS: V8 from 12.x (Chromium,
 * Node 22+) rematerializes a constant operand at every use inside a loop (a 64-bit move, vmovq, vpunpcklqdq),
 * where Node 20's V8 kept it in a register; a loaded value it keeps (or reloads in one instruction).
 * v128.load(BYTE_CONSTS, M15): every byte 15; M16: 16; M63: 63; MTOP: 0xc0; M8: 8; M80: 0x80; MW255: every
 * 16-bit lane 255; MW1: every 16-bit lane 1 (i32x4.dot_i16x8_s with it is extadd_pairwise_i16x8_s, which V8
 * lowers to the same vpmaddwd with a constant it re-addresses at each use).
 */
export const BYTE_CONSTS = memory.data<u8>([
  15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,
  16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
  63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63,
  0xc0, 0xc0, 0xc0, 0xc0, 0xc0, 0xc0, 0xc0, 0xc0, 0xc0, 0xc0, 0xc0, 0xc0, 0xc0, 0xc0, 0xc0, 0xc0,
  8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8,
  0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
  255, 0, 255, 0, 255, 0, 255, 0, 255, 0, 255, 0, 255, 0, 255, 0,
  1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0], 16);
export const M15: usize = 0, M16: usize = 16, M63: usize = 32, MTOP: usize = 48, M8: usize = 64, M80: usize = 80, MW255: usize = 96, MW1: usize = 112;

/** halfHighToF32x4 with its constants given (mask: HALF_CONSTS' first vector, scale: its second). */
// @ts-ignore: decorator
@inline export function halfHighToF32x4With(v: v128, mask: v128, scale: v128): v128 {
  return f32x4.mul(v128.and(i32x4.shr_s(v, 3), mask), scale);
}

/**
 * The four halves at p (8 bytes), each placed as an f32's sign, exponent and mantissa: the value · 2^-112, one
 * multiply short of halfToF32 (callers fold the 2^112 into a factor they multiply by anyway). mask: HALF_CONSTS'
 * first vector. The sign-extending load puts the sign at bit 31 after the shift.
 */
// @ts-ignore: decorator
@inline export function halfBitsF32x4(p: usize, mask: v128): v128 {
  return v128.and(i32x4.shl(v128.load16x4_s(p), 13), mask);
}

/** halfLowToF32x4 with its constants given. */
// @ts-ignore: decorator
@inline export function halfLowToF32x4With(v: v128, mask: v128, scale: v128): v128 {
  return halfHighToF32x4With(i32x4.shl(v, 16), mask, scale);
}

/**
 * expv's constants, loaded at each use: V8 from 12.x would rematerialize each as a constant in the loop that
 * calls expv (3 instructions a use, 26 in SwiGLU's loop); Node 20's V8 did that for those that did not fit in
 * registers. A load is one instruction, on a load port.
 */
const EXP_CONSTS = memory.data<f32>([-87.0, -87.0, -87.0, -87.0, 88.0, 88.0, 88.0, 88.0,
  1.4426950408889634, 1.4426950408889634, 1.4426950408889634, 1.4426950408889634,
  0.693359375, 0.693359375, 0.693359375, 0.693359375, -2.12194440e-4, -2.12194440e-4, -2.12194440e-4, -2.12194440e-4,
  1.0 / 720.0, 1.0 / 720.0, 1.0 / 720.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 120.0, 1.0 / 120.0, 1.0 / 120.0,
  1.0 / 24.0, 1.0 / 24.0, 1.0 / 24.0, 1.0 / 24.0, 1.0 / 6.0, 1.0 / 6.0, 1.0 / 6.0, 1.0 / 6.0,
  0.5, 0.5, 0.5, 0.5, 1.0, 1.0, 1.0, 1.0, 12582912.0, 12582912.0, 12582912.0, 12582912.0], 16);
// @ts-ignore: decorator
@inline function expC(i: usize): v128 { return v128.load(EXP_CONSTS + (i << 4)); }

/**
 * e^x for 4 lanes: x = n ln2 + r, |r| ≤ ln2/2, degree-6 Taylor in r (relative error ~1e-7), times 2^n.
 * x is clamped to [-87, 88], so the 2^n bits never overflow (e^88 ≈ 1.7e38 is finite, e^-87 ≈ 1.6e-38).
 * The clamp is pmax / pmin (one instruction each on x86; a NaN x stays NaN), and n is rounded by adding
 * 1.5·2^23 (the sum's low mantissa bits are n, round half to even as f32x4.nearest), whose bits shifted by 23
 * are n's exponent field: 15 instructions fewer a call than min / max, nearest and trunc_sat under V8.
 */
// @ts-ignore: decorator
@inline export function expv(x: v128): v128 {
  x = f32x4.pmin(f32x4.pmax(x, expC(0)), expC(1));
  const t = f32x4.add(f32x4.mul(x, expC(2)), expC(11)), n = f32x4.sub(t, expC(11));
  const r = f32x4.sub(f32x4.sub(x, f32x4.mul(n, expC(3))), f32x4.mul(n, expC(4)));
  let p = expC(5);
  p = f32x4.add(f32x4.mul(p, r), expC(6));
  p = f32x4.add(f32x4.mul(p, r), expC(7));
  p = f32x4.add(f32x4.mul(p, r), expC(8));
  p = f32x4.add(f32x4.mul(p, r), expC(9));
  const one = expC(10);
  p = f32x4.add(f32x4.mul(p, r), one);
  p = f32x4.add(f32x4.mul(p, r), one);
  return f32x4.mul(p, i32x4.add(i32x4.shl(t, 23), one)); // 1.0's bits are 127 << 23
}

/** The first cols (≤ 0: none, ≥ 4: all) lanes of acc to o: a tile's last columns of a row. */
// @ts-ignore: decorator
@inline export function storeCols(o: usize, acc: v128, cols: i32): void {
  if (cols >= 4) { v128.store(o, acc); return; }
  if (cols <= 0) return;
  store<f32>(o, f32x4.extract_lane(acc, 0));
  if (cols > 1) store<f32>(o, f32x4.extract_lane(acc, 1), 4);
  if (cols > 2) store<f32>(o, f32x4.extract_lane(acc, 2), 8);
}

const TOUCH_SINK = memory.data(16);

/**
 * Read one byte of every cache line of [a, a + bytes) in a tight loop, so the lines come from DRAM together
 * (many misses in flight) and sit in L2 when a decode tile reaches them; results unused (stored to a sink).
 * The kernels' loops do so much per byte that their own loads leave few misses in flight: the hardware
 * prefetchers did not keep them fed on an AMD EPYC (a q4_K tile ran at half its in-cache speed from DRAM).
 * A decode tile touches the next tile's weights before computing its own.
 */
export function touchLines(a: usize, bytes: usize): void {
  const e = a + bytes;
  let t: u32 = 0;
  for (let p = a; p < e; p += 256) t += <u32>load<u8>(p) + <u32>load<u8>(p, 64) + <u32>load<u8>(p, 128) + <u32>load<u8>(p, 192);
  store<u32>(TOUCH_SINK, t);
}

/**
 * Half h · 2^shift as a half (shift 0 or SCALE_SHIFT), exactly; or 0xffffffff when that overflows (|h| ≥ 64
 * for SCALE_SHIFT) or h is not finite. With SCALE_SHIFT a nonzero result is always normal.
 */
export function shiftHalf(h: u32, shift: i32): u32 {
  if (shift == 0) return h;
  if ((h & 0x7c00) == 0x7c00) return 0xffffffff;
  const b = reinterpret<u32>(halfToF32(h) * <f32>(1 << shift)); // exact
  const sign = (b >> 16) & 0x8000;
  if ((b & 0x7fffffff) == 0) return sign;
  const e = <i32>((b >> 23) & 255) - 112; // the half's biased exponent
  return e >= 31 ? 0xffffffff : sign | (<u32>e << 10) | ((b >> 13) & 0x3ff);
}
