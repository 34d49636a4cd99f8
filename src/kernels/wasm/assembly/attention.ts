// Causal grouped-query attention over the KV cache (kernels/ref/attention.ts).
// A work item is one query token and a pair of query heads that share a KV head (a single head where the
// group is odd), so each K and V row loaded serves both heads: scores take 4 keys a pass with 8 vector
// accumulators and one transposed reduction; the weighted sum of V keeps 16 output floats of both heads in
// registers across all keys (8 accumulators: x86 V8 has 16 vector registers). Softmax subtracts the row max,
// so scores of any magnitude neither overflow nor all underflow; its exp is the vector expv.
// scratch holds 2 score rows of sMax floats for this thread.

import { dotF32, expv, fma, hsum } from "./simd";

export function attention(out: usize, q: usize, qStride: i32, k: usize, v: usize, T: i32, pos0: i32,
  nQ: i32, nKV: i32, hd: i32, scratch: usize, sMax: i32, i0: i32, i1: i32): void {
  const group = nQ / nKV, tilesG = (group + 1) >> 1;
  const kvB = <usize>(nKV * hd) << 2; // bytes from one position's K (or V) row to the next
  const scale = <f32>(1 / Math.sqrt(<f64>hd));
  const s0 = scratch, s1 = scratch + (<usize>sMax << 2);
  for (let it = i0; it < i1; it++) {
    // KV head major, so the threads (claiming from the last item down) share one head's keys and values in cache.
    const gt = it / tilesG, g = gt / T, t = gt % T;
    const h = g * group + (it % tilesG) * 2;
    const S = pos0 + t + 1;
    const q0 = q + ((<usize>t * qStride + <usize>h * hd) << 2);
    const o0 = out + ((<usize>t * nQ + <usize>h) * hd << 2);
    const kg = k + (<usize>(g * hd) << 2), vg = v + (<usize>(g * hd) << 2);
    if (h + 1 < (g + 1) * group) headTile(true, q0, o0, kg, vg, kvB, S, hd, scale, s0, s1);
    else headTile(false, q0, o0, kg, vg, kvB, S, hd, scale, s0, s1);
  }
}

/** Bytes of a segment's descriptor for attentionBatch: out, q, k, v (pointers), T, pos0, first item, unused (i32). */
const SEG_BYTES: usize = 32;

/**
 * attention() for the segments of a batched step (descriptors at desc, see SEG_BYTES): items [i0, i1) of their
 * concatenation, each segment's items in attention()'s order.
 */
export function attentionBatch(desc: usize, nSeg: i32, qStride: i32, nQ: i32, nKV: i32, hd: i32, scratch: usize, sMax: i32,
  i0: i32, i1: i32): void {
  const perToken = nKV * ((nQ / nKV + 1) >> 1);
  for (let i = 0; i < nSeg; i++) {
    const d = desc + <usize>i * SEG_BYTES;
    const T = load<i32>(d, 16), first = load<i32>(d, 24);
    const a = max(i0, first), b = min(i1, first + T * perToken);
    if (a < b) attention(load<u32>(d), load<u32>(d, 4), qStride, load<u32>(d, 8), load<u32>(d, 12), T, load<i32>(d, 20),
      nQ, nKV, hd, scratch, sMax, a - first, b - first);
  }
}

/** Sums of 4 vectors' lanes, lane j = all lanes of aj (a 4×4 transpose folded into the adds). */
// @ts-ignore: decorator
@inline function reduce4(a0: v128, a1: v128, a2: v128, a3: v128): v128 {
  const t0 = f32x4.add(v128.shuffle<f32>(a0, a1, 0, 4, 1, 5), v128.shuffle<f32>(a0, a1, 2, 6, 3, 7)); // a0 a1 a0 a1
  const t1 = f32x4.add(v128.shuffle<f32>(a2, a3, 0, 4, 1, 5), v128.shuffle<f32>(a2, a3, 2, 6, 3, 7)); // a2 a3 a2 a3
  return f32x4.add(v128.shuffle<f32>(t0, t1, 0, 1, 4, 5), v128.shuffle<f32>(t0, t1, 2, 3, 6, 7));
}

/** Lane j: Σ_{i in [i4, hd)} x[i]·k_j[i], the keys kvB bytes apart (the head_dim tail beyond the vectors). */
// @ts-ignore: decorator
@inline function tail4(x: usize, kp: usize, kvB: usize, i4: i32, hd: i32): v128 {
  let d0: f32 = 0, d1: f32 = 0, d2: f32 = 0, d3: f32 = 0;
  for (let i = i4; i < hd; i++) {
    const o = <usize>i << 2, xi = load<f32>(x + o);
    d0 += xi * load<f32>(kp + o); d1 += xi * load<f32>(kp + kvB + o);
    d2 += xi * load<f32>(kp + 2 * kvB + o); d3 += xi * load<f32>(kp + 3 * kvB + o);
  }
  return f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(d0), 1, d1), 2, d2), 3, d3);
}

/** exp(row - max) in place over S scores; returns their sum. */
function softmaxRow(row: usize, S: i32, mx: f32): f32 {
  const m = f32x4.splat(mx);
  let acc = f32x4.splat(0);
  let s = 0, acc1 = acc;
  for (; s + 8 <= S; s += 8) {
    const p = row + (<usize>s << 2);
    const e = expv(f32x4.sub(v128.load(p), m)), e1 = expv(f32x4.sub(v128.load(p, 16), m));
    v128.store(p, e); v128.store(p, e1, 16);
    acc = f32x4.add(acc, e); acc1 = f32x4.add(acc1, e1);
  }
  for (; s + 4 <= S; s += 4) {
    const p = row + (<usize>s << 2);
    const e = expv(f32x4.sub(v128.load(p), m));
    v128.store(p, e);
    acc = f32x4.add(acc, e);
  }
  let sum = hsum(f32x4.add(acc, acc1));
  for (; s < S; s++) {
    const p = row + (<usize>s << 2);
    const e = f32x4.extract_lane(expv(f32x4.splat(load<f32>(p) - mx)), 0);
    store<f32>(p, e);
    sum += e;
  }
  return sum;
}

// @ts-ignore: decorator
@inline function hmax(v: v128): f32 {
  return max(max(f32x4.extract_lane(v, 0), f32x4.extract_lane(v, 1)), max(f32x4.extract_lane(v, 2), f32x4.extract_lane(v, 3)));
}

/**
 * One token's attention for query heads h (q0, o0) and, if two, h + 1 (hd floats further), over keys [0, S)
 * of the KV head at kg / vg. two is a constant at each call, so each inlined copy keeps only its rows.
 */
// @ts-ignore: decorator
@inline function headTile(two: bool, q0: usize, o0: usize, kg: usize, vg: usize, kvB: usize, S: i32, hd: i32,
  scale: f32, s0: usize, s1: usize): void {
  const q1 = q0 + (<usize>hd << 2), o1 = o0 + (<usize>hd << 2);
  const hdB = <usize>(hd & ~3) << 2, hd4 = hd & ~3;
  const sc = f32x4.splat(scale);
  const z = f32x4.splat(0);
  // Scores, 4 keys a pass.
  let m0 = f32x4.splat(-Infinity), m1 = m0;
  let s = 0;
  for (; s + 4 <= S; s += 4) {
    const kp = kg + <usize>s * kvB;
    const kp1 = kp + kvB, kp2 = kp1 + kvB, kp3 = kp2 + kvB;
    let a0 = z, a1 = z, a2 = z, a3 = z, b0 = z, b1 = z, b2 = z, b3 = z;
    for (let i: usize = 0; i < hdB; i += 16) {
      const k0 = v128.load(kp + i), k1 = v128.load(kp1 + i), k2 = v128.load(kp2 + i), k3 = v128.load(kp3 + i);
      const x0 = v128.load(q0 + i);
      a0 = fma(x0, k0, a0); a1 = fma(x0, k1, a1); a2 = fma(x0, k2, a2); a3 = fma(x0, k3, a3);
      if (two) {
        const x1 = v128.load(q1 + i);
        b0 = fma(x1, k0, b0); b1 = fma(x1, k1, b1); b2 = fma(x1, k2, b2); b3 = fma(x1, k3, b3);
      }
    }
    let d0 = reduce4(a0, a1, a2, a3);
    if (hd4 < hd) d0 = f32x4.add(d0, tail4(q0, kp, kvB, hd4, hd));
    d0 = f32x4.mul(d0, sc);
    v128.store(s0 + (<usize>s << 2), d0);
    m0 = f32x4.max(m0, d0);
    if (two) {
      let d1 = reduce4(b0, b1, b2, b3);
      if (hd4 < hd) d1 = f32x4.add(d1, tail4(q1, kp, kvB, hd4, hd));
      d1 = f32x4.mul(d1, sc);
      v128.store(s1 + (<usize>s << 2), d1);
      m1 = f32x4.max(m1, d1);
    }
  }
  let mx0 = hmax(m0), mx1 = hmax(m1);
  for (; s < S; s++) {
    const kp = kg + <usize>s * kvB;
    const d0 = dotF32(q0, kp, hd) * scale;
    store<f32>(s0 + (<usize>s << 2), d0);
    mx0 = max(mx0, d0);
    if (two) {
      const d1 = dotF32(q1, kp, hd) * scale;
      store<f32>(s1 + (<usize>s << 2), d1);
      mx1 = max(mx1, d1);
    }
  }
  const inv0: f32 = 1 / softmaxRow(s0, S, mx0);
  const inv1: f32 = two ? 1 / softmaxRow(s1, S, mx1) : 0;
  // Weighted sum of V: 16 floats of each head's output a pass over the keys, then 4, then the scalar tail.
  const w0 = f32x4.splat(inv0), w1 = f32x4.splat(inv1);
  let c: usize = 0;
  for (; c + 64 <= hdB; c += 64) {
    let a0 = z, a1 = z, a2 = z, a3 = z, b0 = z, b1 = z, b2 = z, b3 = z;
    let vp = vg + c;
    for (let j: usize = 0, e = <usize>S << 2; j < e; j += 4) {
      const v0 = v128.load(vp), v1 = v128.load(vp, 16), v2 = v128.load(vp, 32), v3 = v128.load(vp, 48);
      const p0 = v128.load32_splat(s0 + j);
      a0 = fma(p0, v0, a0); a1 = fma(p0, v1, a1); a2 = fma(p0, v2, a2); a3 = fma(p0, v3, a3);
      if (two) {
        const p1 = v128.load32_splat(s1 + j);
        b0 = fma(p1, v0, b0); b1 = fma(p1, v1, b1); b2 = fma(p1, v2, b2); b3 = fma(p1, v3, b3);
      }
      vp += kvB;
    }
    v128.store(o0 + c, f32x4.mul(a0, w0)); v128.store(o0 + c, f32x4.mul(a1, w0), 16);
    v128.store(o0 + c, f32x4.mul(a2, w0), 32); v128.store(o0 + c, f32x4.mul(a3, w0), 48);
    if (two) {
      v128.store(o1 + c, f32x4.mul(b0, w1)); v128.store(o1 + c, f32x4.mul(b1, w1), 16);
      v128.store(o1 + c, f32x4.mul(b2, w1), 32); v128.store(o1 + c, f32x4.mul(b3, w1), 48);
    }
  }
  for (; c < hdB; c += 16) {
    let a0 = z, b0 = z;
    let vp = vg + c;
    for (let j: usize = 0, e = <usize>S << 2; j < e; j += 4) {
      const v0 = v128.load(vp);
      a0 = fma(v128.load32_splat(s0 + j), v0, a0);
      if (two) b0 = fma(v128.load32_splat(s1 + j), v0, b0);
      vp += kvB;
    }
    v128.store(o0 + c, f32x4.mul(a0, w0));
    if (two) v128.store(o1 + c, f32x4.mul(b0, w1));
  }
  for (let i = hd4; i < hd; i++) {
    const o = <usize>i << 2;
    let a: f32 = 0, b: f32 = 0;
    for (let j = 0; j < S; j++) {
      const x = load<f32>(vg + <usize>j * kvB + o);
      a += load<f32>(s0 + (<usize>j << 2)) * x;
      if (two) b += load<f32>(s1 + (<usize>j << 2)) * x;
    }
    store<f32>(o0 + o, a * inv0);
    if (two) store<f32>(o1 + o, b * inv1);
  }
}
