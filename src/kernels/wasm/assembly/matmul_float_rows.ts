// Prefill with float weights (f32, bf16 = u16, f16 = i16 as H): out (T, N) rows [n0, n1) = x (T, K) · Wᵀ. The
// tiles keep 8 weight rows' values at one k as two f32x4 (32 bytes a k, k-major) and pass 4 or 6 tokens over
// them with 8 or 12 accumulators whose lanes are the rows: one FMA per 4 products, no horizontal sums. f32
// matrices are stored in that layout at load (repackF32: groups of 8 rows, 32·K bytes each), so the tiles read
// them in place; a group's first tile streams it from DRAM while the FMAs run, the next ones from cache. 16-bit
// weights are widened into it per token block, a pair of 4-row groups at a time into per-thread scratch
// (copying f32 weights that way cost 7-10 % of a prefill's matmul time: AMD Zen 5, OpenELM-270M shapes). x comes
// interleaved by the tile's tokens (interleaveRows). The inner loop is FMA-bound (8 chains, exactly the FMA
// latency × 2 pipes, in the 4-token tile; 12 in the 6-token tile, where the engine keeps 15 vectors in
// registers: float_tile.ts), so its other instructions are kept off the vector ports: every activation is
// broadcast from memory (vbroadcastss, a load port; V8 folds no offset into load32_splat, so each costs a scalar
// lea). Lane shuffles of one load for every other k (vector instructions beside the FMAs) were 5-7 % slower on
// an AMD Zen 5. Decode (one token) over the f32 layout is matvecF32: a group is one sequential stream.

import { fma, halfLowToF32x4, halfHighToF32x4, halfToF32, storeCols } from "./simd";
import { halfRowPtr } from "./matmul_half";

/** Address of row n's value at k = 0 in the f32 layout: element (n, k) at w + 32·K·⌊n/8⌋ + 32·k + 4·(n mod 8). */
// @ts-ignore: decorator
@inline export function f32RowPtr(w: usize, K: i32, n: i32): usize {
  return w + <usize>(n >> 3) * (<usize>K << 5) + (<usize>(n & 7) << 2);
}

/**
 * Tokens a pass keeps in cache (their interleaved x: at most 128 · K · 4 bytes, 640 KiB at K = 1280): T split into
 * equal blocks of at most 128, each a multiple of the tile's g, so that no short last block widens every weight
 * again (T = 130, g = 6: 66 + 64, not 128 + 2). Blocks of 128 against 64 (a prompt's micro-batch of 128 in one
 * block, its weights widened once): f32 matmuls 6-10 % faster in the 4-token tile, 2-3 % in the 6-token tile,
 * bf16 level (AMD Zen 5, OpenELM-270M and -1_1B).
 */
// @ts-ignore: decorator
@inline function tokenBlock(T: i32, g: i32): i32 {
  const blocks = (T + 127) >> 7, per = (T + blocks - 1) / blocks;
  return (per + g - 1) / g * g;
}

/**
 * With 6-token tiles (g = 6): the tokens of T the 6-token tiles take, the first sixTokens(T) (T + 1 where T mod 6
 * is 5: a last tile with one zero row); the 3 to 8 after them take 4-token tiles. A last 6-token tile of 1 or 2
 * tokens would run 4 or 5 zero rows: a micro-batch of 128 tokens (21 tiles and 2 tokens) then ran 132 token-passes,
 * and runs 20 tiles and two 4-token tiles (5.4 a 6-token tile in the time of rows4x8's tokens: 116 against 118.8).
 */
// @ts-ignore: decorator
@inline function sixTokens(T: i32): i32 {
  const r = T % 6;
  return r == 0 ? T : r == 5 ? T + 1 : r >= 3 ? T - r : T >= 7 ? T - r - 6 : 0;
}

/** Rows of x's interleaved copy (interleaveRows) for T tokens and tiles of g: T and the zero rows of last tiles. */
export function interleavedRows(T: i32, g: i32): i32 {
  if (g != 6) return (T + 3) & ~3;
  const n6 = sixTokens(T);
  return n6 >= T ? n6 : n6 + ((T - n6 + 3) & ~3);
}

/**
 * xt rows [r0, r1) (of interleavedRows(T, g)) of x (T, K) interleaved by the token tiles' heights: with g = 4,
 * element (r, k) at 16·(K·⌊r/4⌋ + k) + 4·(r mod 4); with g = 6 the first sixTokens(T) rows by 6 (24·(K·⌊r/6⌋ + k) +
 * 4·(r mod 6)), the rest by 4 after them. Rows T … (last tiles' rest, computed but not stored) zeros.
 */
export function interleaveRows(x: usize, xt: usize, K: i32, g: i32, T: i32, r0: i32, r1: i32): void {
  const n6 = g == 6 ? sixTokens(T) : 0, base4 = xt + <usize>(n6 / 6) * <usize>K * 24;
  for (let r = r0; r < r1; r++) {
    const six = r < n6, q = six ? r : r - n6, kb: usize = six ? 24 : 16;
    const src = x + ((<usize>r * K) << 2), dst = (six ? xt + <usize>(q / 6) * <usize>K * 24 + (<usize>(q % 6) << 2)
      : base4 + <usize>(q >> 2) * <usize>K * 16 + (<usize>(q & 3) << 2));
    if (r < T) for (let k = 0; k < K; k++) store<f32>(dst + <usize>k * kb, load<f32>(src + (<usize>k << 2)));
    else for (let k = 0; k < K; k++) store<f32>(dst + <usize>k * kb, 0);
  }
}

/** 4 vectors of 4 rows' values (row r in a_r) -> their 4 columns at o, o + 32 (k + 1), o + 64, o + 96. */
// @ts-ignore: decorator
@inline function transposeTo(a0: v128, a1: v128, a2: v128, a3: v128, o: usize, step: usize): void {
  const l01 = v128.shuffle<i32>(a0, a1, 0, 4, 1, 5), h01 = v128.shuffle<i32>(a0, a1, 2, 6, 3, 7);
  const l23 = v128.shuffle<i32>(a2, a3, 0, 4, 1, 5), h23 = v128.shuffle<i32>(a2, a3, 2, 6, 3, 7);
  v128.store(o, v128.shuffle<i64>(l01, l23, 0, 2)); v128.store(o + step, v128.shuffle<i64>(l01, l23, 1, 3));
  v128.store(o + 2 * step, v128.shuffle<i64>(h01, h23, 0, 2)); v128.store(o + 3 * step, v128.shuffle<i64>(h01, h23, 1, 3));
}

// @ts-ignore: decorator
@inline function widenEven<H>(v: v128): v128 { // elements 0, 2, 4, 6 of 8 halves
  if (isSigned<H>()) return halfLowToF32x4(v);
  return i32x4.shl(v, 16);
}

// @ts-ignore: decorator
@inline function widenOdd<H>(v: v128): v128 { // elements 1, 3, 5, 7
  if (isSigned<H>()) return halfHighToF32x4(v);
  return v128.and(v, i32x4.splat(0xffff0000));
}

// @ts-ignore: decorator
@inline function widenOne<H>(p: usize): f32 {
  if (isSigned<H>()) return halfToF32(load<u16>(p));
  return reinterpret<f32>(<u32>load<u16>(p) << 16);
}

/**
 * Rows rowBase + i, i in [i0, i1), of an f32 matrix staged row-major at src (K floats each) -> the layout at dst
 * (f32RowPtr): 4 rows at a time by 4×4 transposes where they start at a multiple of 4 (so they share a group), else
 * a row at a time. Rows past the matrix's last in its group stay as allocated (zeros).
 */
export function repackF32(src: usize, K: i32, dst: usize, rowBase: i32, i0: i32, i1: i32): void {
  const rb = <usize>K << 2;
  for (let i = i0; i < i1;) {
    const p0 = src + <usize>i * rb, d = f32RowPtr(dst, K, rowBase + i);
    if (((rowBase + i) & 3) != 0 || i + 4 > i1) {
      for (let k = 0; k < K; k++) store<f32>(d + (<usize>k << 5), load<f32>(p0 + (<usize>k << 2)));
      i++;
      continue;
    }
    const p1 = p0 + rb, p2 = p1 + rb, p3 = p2 + rb;
    let k = 0;
    for (; k + 4 <= K; k += 4) {
      const o = <usize>k << 2;
      transposeTo(v128.load(p0 + o), v128.load(p1 + o), v128.load(p2 + o), v128.load(p3 + o), d + (<usize>k << 5), 32);
    }
    for (; k < K; k++) {
      const o = <usize>k << 2, e = d + (<usize>k << 5);
      store<f32>(e, load<f32>(p0 + o)); store<f32>(e, load<f32>(p1 + o), 4);
      store<f32>(e, load<f32>(p2 + o), 8); store<f32>(e, load<f32>(p3 + o), 12);
    }
    i += 4;
  }
}

/**
 * out (T, N) columns [n0, n1) (n0 a multiple of 8) = x (T, K) · Wᵀ over the f32 layout at w, for T = 1 to 3 (a decode
 * step, a small batch of them): each group of 8 rows one sequential stream of 32·K bytes from DRAM for one or two
 * tokens (4 or 8 FMA chains: k mod 2 × the halves, × the tokens), so the loop runs at the memory's speed; a third
 * token then reads the group again from cache (a loop of 3 tokens' 6 FMAs a k ran 12 % slower from DRAM). The token
 * tiles, whose 8-12 FMAs a k compete with the stream, read a group from DRAM at about half that speed (AMD Zen 5:
 * 2 and 3 tokens through them 1.4-1.6× slower than row-major tiles).
 */
export function matvecF32(out: usize, x: usize, w: usize, T: i32, N: i32, K: i32, n0: i32, n1: i32): void {
  const gb = <usize>K << 5, os = <usize>N << 2;
  // one function a token count: V8 11.3 (Node 20) spilled the one-token loop's accumulators when all three
  // loops shared a function (2× slower on a small matrix)
  for (let n = n0; n < n1; n += 8) {
    const o = out + (<usize>n << 2), p = w + <usize>(n >> 3) * gb, cols = n1 - n;
    if (T == 1) group1(o, x, p, K, cols);
    else {
      group2(o, os, x, p, K, cols);
      if (T == 3) group1(o + 2 * os, x + (<usize>K << 3), p, K, cols); // the group again, from cache
    }
  }
}

/**
 * One token against the group at p: k mod 2 × the two halves, 4 chains (each FMA's 4-cycle latency over 64 bytes
 * is twice the bandwidth of a core; 8 chains made V8 11.3 spill 2 of them).
 */
function group1(o: usize, xp: usize, p: usize, K: i32, cols: i32): void {
  let a0 = f32x4.splat(0), a1 = a0, b0 = a0, b1 = a0;
  const pe = p + (<usize>(K & ~1) << 5);
  while (p != pe) {
    let xt = v128.load32_splat(xp); a0 = fma(v128.load(p), xt, a0); b0 = fma(v128.load(p, 16), xt, b0);
    xt = v128.load32_splat(xp, 4); a1 = fma(v128.load(p, 32), xt, a1); b1 = fma(v128.load(p, 48), xt, b1);
    p += 64; xp += 8;
  }
  if (K & 1) {
    const xt = v128.load32_splat(xp);
    a0 = fma(v128.load(p), xt, a0); b0 = fma(v128.load(p, 16), xt, b0);
  }
  storeCols(o, f32x4.add(a0, a1), cols);
  storeCols(o + 16, f32x4.add(b0, b1), cols - 4);
}

/** Two tokens (x rows K floats apart; out rows os bytes apart): a· token 0, b· token 1; ·0 ·1 even k, ·2 ·3 odd. */
function group2(o: usize, os: usize, xp: usize, p: usize, K: i32, cols: i32): void {
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
  const pe = p + (<usize>(K & ~1) << 5), x1 = <usize>K << 2;
  while (p != pe) {
    let va = v128.load(p), vb = v128.load(p, 16);
    let xt = v128.load32_splat(xp); a0 = fma(va, xt, a0); a1 = fma(vb, xt, a1);
    xt = v128.load32_splat(xp + x1); b0 = fma(va, xt, b0); b1 = fma(vb, xt, b1);
    va = v128.load(p, 32); vb = v128.load(p, 48);
    xt = v128.load32_splat(xp, 4); a2 = fma(va, xt, a2); a3 = fma(vb, xt, a3);
    xt = v128.load32_splat(xp + x1, 4); b2 = fma(va, xt, b2); b3 = fma(vb, xt, b3);
    p += 64; xp += 8;
  }
  if (K & 1) {
    const va = v128.load(p), vb = v128.load(p, 16);
    let xt = v128.load32_splat(xp); a0 = fma(va, xt, a0); a1 = fma(vb, xt, a1);
    xt = v128.load32_splat(xp + x1); b0 = fma(va, xt, b0); b1 = fma(vb, xt, b1);
  }
  storeCols(o, f32x4.add(a0, a2), cols); storeCols(o + 16, f32x4.add(a1, a3), cols - 4);
  storeCols(o + os, f32x4.add(b0, b2), cols); storeCols(o + os + 16, f32x4.add(b1, b3), cols - 4);
}

/**
 * Rows n … n+3 of a 16-bit W (N, K) in the 8-row layout of matmul_half.ts (the 4 rows' chunks 16 bytes apart, 128
 * a chunk) -> s, widened to f32 in the f32 layout's k-major form; rows past N are the layout's zeros.
 */
function widenGroup<H>(w: usize, K: i32, n: i32, s: usize): void {
  const p0 = halfRowPtr(w, K, n), p1 = p0 + 16, p2 = p0 + 32, p3 = p0 + 48;
  let k = 0;
  for (; k + 8 <= K; k += 8) {
    const o = <usize>k << 4;
    const v0 = v128.load(p0 + o), v1 = v128.load(p1 + o), v2 = v128.load(p2 + o), v3 = v128.load(p3 + o);
    const d = s + (<usize>k << 5);
    transposeTo(widenEven<H>(v0), widenEven<H>(v1), widenEven<H>(v2), widenEven<H>(v3), d, 64);
    transposeTo(widenOdd<H>(v0), widenOdd<H>(v1), widenOdd<H>(v2), widenOdd<H>(v3), d + 32, 64);
  }
  for (; k < K; k++) {
    const d = s + (<usize>k << 5), o = (<usize>(k >> 3) << 7) + (<usize>(k & 7) << 1);
    store<f32>(d, widenOne<H>(p0 + o)); store<f32>(d, widenOne<H>(p1 + o), 4);
    store<f32>(d, widenOne<H>(p2 + o), 8); store<f32>(d, widenOne<H>(p3 + o), 12);
  }
}

/**
 * 4 tokens (interleaved x at x) against the widened pair of groups at s … s + 32 K: rows of out at o, o + os, …, the
 * first nt (a last group's zero rows computed, not stored: in the time of 4 tokens, where a token alone on 2 FMA
 * chains takes about that of 4).
 */
function rows4x8(x: usize, s: usize, K: i32, o: usize, os: usize, cols: i32, nt: i32): void {
  let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a10 = f32x4.splat(0), a11 = f32x4.splat(0);
  let a20 = f32x4.splat(0), a21 = f32x4.splat(0), a30 = f32x4.splat(0), a31 = f32x4.splat(0);
  let p = s;
  const pe = s + (<usize>K << 5);
  if (K & 1) {
    const va = v128.load(p), vb = v128.load(p, 16);
    let xt = v128.load32_splat(x); a00 = fma(va, xt, a00); a01 = fma(vb, xt, a01);
    xt = v128.load32_splat(x, 4); a10 = fma(va, xt, a10); a11 = fma(vb, xt, a11);
    xt = v128.load32_splat(x, 8); a20 = fma(va, xt, a20); a21 = fma(vb, xt, a21);
    xt = v128.load32_splat(x, 12); a30 = fma(va, xt, a30); a31 = fma(vb, xt, a31);
    p += 32; x += 16;
  }
  while (p != pe) { // two k a trip (18.5 instructions a k)
    let va = v128.load(p), vb = v128.load(p, 16);
    let xt = v128.load32_splat(x); a00 = fma(va, xt, a00); a01 = fma(vb, xt, a01);
    xt = v128.load32_splat(x, 4); a10 = fma(va, xt, a10); a11 = fma(vb, xt, a11);
    xt = v128.load32_splat(x, 8); a20 = fma(va, xt, a20); a21 = fma(vb, xt, a21);
    xt = v128.load32_splat(x, 12); a30 = fma(va, xt, a30); a31 = fma(vb, xt, a31);
    va = v128.load(p, 32); vb = v128.load(p, 48);
    xt = v128.load32_splat(x, 16); a00 = fma(va, xt, a00); a01 = fma(vb, xt, a01);
    xt = v128.load32_splat(x, 20); a10 = fma(va, xt, a10); a11 = fma(vb, xt, a11);
    xt = v128.load32_splat(x, 24); a20 = fma(va, xt, a20); a21 = fma(vb, xt, a21);
    xt = v128.load32_splat(x, 28); a30 = fma(va, xt, a30); a31 = fma(vb, xt, a31);
    p += 64; x += 32;
  }
  storeCols(o, a00, cols); storeCols(o + 16, a01, cols - 4); o += os;
  if (nt < 2) return;
  storeCols(o, a10, cols); storeCols(o + 16, a11, cols - 4); o += os;
  if (nt < 3) return;
  storeCols(o, a20, cols); storeCols(o + 16, a21, cols - 4); o += os;
  if (nt < 4) return;
  storeCols(o, a30, cols); storeCols(o + 16, a31, cols - 4);
}

/**
 * rows4x8 for 6 tokens (x interleaved by 6, 24 bytes a k): 12 accumulators, 4 more FMA chains than the 8 that
 * the FMA latency × 2 pipes needs. 15 live vectors: V8 13.6 (Node 24) keeps them in registers, older V8s spill
 * (1.8-1.9× slower), so the backend takes this tile only where its probe times it faster (float_tile.ts).
 * Each output's sum is the same FMA chain over k as rows4x8's: the same bits. A last group of 5 tokens (nt) takes
 * the whole tile, its zero row computed, not stored.
 */
function rows6x8(x: usize, s: usize, K: i32, o: usize, os: usize, cols: i32, nt: i32): void {
  let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a10 = f32x4.splat(0), a11 = f32x4.splat(0);
  let a20 = f32x4.splat(0), a21 = f32x4.splat(0), a30 = f32x4.splat(0), a31 = f32x4.splat(0);
  let a40 = f32x4.splat(0), a41 = f32x4.splat(0), a50 = f32x4.splat(0), a51 = f32x4.splat(0);
  let p = s;
  const pe = s + (<usize>K << 5);
  do {
    const va = v128.load(p), vb = v128.load(p, 16);
    let xt = v128.load32_splat(x); a00 = fma(va, xt, a00); a01 = fma(vb, xt, a01);
    xt = v128.load32_splat(x, 4); a10 = fma(va, xt, a10); a11 = fma(vb, xt, a11);
    xt = v128.load32_splat(x, 8); a20 = fma(va, xt, a20); a21 = fma(vb, xt, a21);
    xt = v128.load32_splat(x, 12); a30 = fma(va, xt, a30); a31 = fma(vb, xt, a31);
    xt = v128.load32_splat(x, 16); a40 = fma(va, xt, a40); a41 = fma(vb, xt, a41);
    xt = v128.load32_splat(x, 20); a50 = fma(va, xt, a50); a51 = fma(vb, xt, a51);
    p += 32; x += 24;
  } while (p != pe);
  // the first nt tokens' outputs (a last group's rest: its zero rows computed, not stored)
  storeCols(o, a00, cols); storeCols(o + 16, a01, cols - 4); o += os;
  if (nt < 2) return;
  storeCols(o, a10, cols); storeCols(o + 16, a11, cols - 4); o += os;
  if (nt < 3) return;
  storeCols(o, a20, cols); storeCols(o + 16, a21, cols - 4); o += os;
  if (nt < 4) return;
  storeCols(o, a30, cols); storeCols(o + 16, a31, cols - 4); o += os;
  if (nt < 5) return;
  storeCols(o, a40, cols); storeCols(o + 16, a41, cols - 4); o += os;
  if (nt < 6) return;
  storeCols(o, a50, cols); storeCols(o + 16, a51, cols - 4);
}

/**
 * xt: x interleaved by interleaveRows by g (4 or 6) tokens; w: f32 in its layout (f32RowPtr), 16-bit in
 * matmul_half.ts's; s: this thread's 32 · K bytes (16-bit weights only). n0 a multiple of 8.
 */
export function matmulFloatRows<H>(out: usize, xt: usize, w: usize, T: i32, N: i32, K: i32, g: i32, s: usize, n0: i32, n1: i32): void {
  const os = <usize>N << 2, tbf = tokenBlock(T, g);
  // tokens [0, n6) in 6-token tiles, [n6, T) in 4-token tiles (interleaveRows); blocks start at multiples of g
  const n6 = g == 6 ? sixTokens(T) : 0, x4 = xt + <usize>(n6 / 6) * <usize>K * 24, xg6 = <usize>K * 24, xg4 = <usize>K * 16;
  for (let tb = 0; tb < T; tb += tbf) {
    // a short rest joins the block before it, so that the 4-token tail lies within one block
    const te = T - (tb + tbf) < 9 ? T : tb + tbf;
    for (let n = n0; n < n1; n += 8) {
      let g8 = s;
      if (isFloat<H>()) g8 = w + <usize>(n >> 3) * (<usize>K << 5);
      else { widenGroup<H>(w, K, n, s); if (n + 4 < n1) widenGroup<H>(w, K, n + 4, s + 16); }
      const cols = n1 - n, o = out + (<usize>n << 2);
      let t = tb;
      for (const e = min(te, n6); t < e; t += 6) rows6x8(xt + <usize>(t / 6) * xg6, g8, K, o + <usize>t * os, os, cols, te - t);
      for (; t < te; t += 4) rows4x8(x4 + <usize>((t - n6) >> 2) * xg4, g8, K, o + <usize>t * os, os, cols, te - t);
    }
    if (te == T) break;
  }
}

/**
 * The host's probe of the token tiles (kernels/wasm/float_tile.ts), on 32 KiB at p. mode 0: 8 rows × K = 256 and
 * 6 tokens of pseudo-random values (seed n), through rows4x8 (tokens 0-3) and rows6x8; returns how many of the
 * first 4 tokens' outputs differ (none may: the same FMA chains). mode 4 / 6: n passes of rows4x8 / rows6x8 over
 * the same 256 k, for the host to time (the caller takes 1.5 passes of 4 tokens for each of 6).
 */
export function floatTileProbe(p: usize, mode: i32, n: i32): i32 {
  const K = 256, s = p, x = p + 8192, x4 = p + 14336, x6 = p + 22528, out = p + 28672;
  if (mode == 0) {
    let r: u32 = <u32>n | 1;
    for (let o: usize = 0; o < 14336; o += 4) { // s, then x (6 × K): values in ±[0.5, 1)
      r ^= r << 13; r ^= r >> 17; r ^= r << 5;
      store<f32>(p + o, reinterpret<f32>((r & 0x807fffff) | 0x3f000000));
    }
    interleaveRows(x, x4, K, 4, 6, 0, 6); interleaveRows(x, x6, K, 6, 6, 0, 6);
    rows4x8(x4, s, K, out, 32, 8, 4); rows6x8(x6, s, K, out + 256, 32, 8, 6);
    let bad = 0;
    for (let o: usize = 0; o < 128; o += 4) if (load<u32>(out + o) != load<u32>(out + 256 + o)) bad++;
    return bad;
  }
  for (let i = 0; i < n; i++) {
    if (mode == 6) rows6x8(x6, s, K, out, 32, 8, 6);
    else rows4x8(x4, s, K, out, 32, 8, 4);
  }
  return 0;
}
