// llama.cpp's K-quants: super-blocks of 256 weights with quantized per-sub-block scales.
//   q4_k (144 bytes): f16 d, f16 dmin, scales[12] (8 sub-blocks of 32: 6-bit scale sc and 6-bit min m, packed
//        by get_scale_min_k4), qs[128] (4-bit). Weight = d·sc · q − dmin·m.
//   q5_k (176 bytes): as q4_k plus qh[32]: weight l of sub-block s has its fifth bit at qh[l] bit s.
//   q6_k (210 bytes): ql[128] (low 4 bits), qh[64] (high 2 bits), int8 scales[16] (sub-blocks of 16), f16 d.
//        Weight = d · scale · (q − 32).
// In qs, each 32-byte run j (0..3) holds sub-block 2j in its low nibbles and 2j+1 in its high nibbles.
// Reference: ggml/src/ggml-quants.c (quantize_row_q{4,5,6}_K_ref, make_qkx2_quants, make_qx_quants,
// dequantize_row_q*_K), ggml-common.h (block_q*_K). ggml-base is built without FMA or fast-math, so every
// float operation below is one float32 rounding in C's order (Math.fround), and the bytes are llama-quantize's.

import { f16ToF32, f32ToF16 } from "../tensor/tensor.js";

export type KQuantDType = "q4_k" | "q5_k" | "q6_k";
export const QK_K = 256;
export const K_BLOCK_BYTES: Record<KQuantDType, number> = { q4_k: 144, q5_k: 176, q6_k: 210 };

const f = Math.fround;
const GROUP_MAX_EPS = f(1e-15);

/** ggml's nearest_int: round half to even through the 1.5·2^23 trick (|v| < 2^22). */
function nearestInt(v: number): number {
  return f(v + 12582912) - 12582912;
}

/** Sub-block j's 6-bit scale and min from the 12 packed bytes at q (get_scale_min_k4). */
export function scaleMinK4(j: number, q: Uint8Array, o: number): [number, number] {
  if (j < 4) return [q[o + j] & 63, q[o + j + 4] & 63];
  return [(q[o + j + 4] & 0xf) | ((q[o + j - 4] >> 6) << 4), (q[o + j + 4] >> 4) | ((q[o + j] >> 6) << 4)];
}

const half = (d: Uint8Array, o: number) => f16ToF32(d[o] | (d[o + 1] << 8));

/** Dequantize row r (K weights, K % 256 == 0) into out, exactly as dequantize_row_q*_K. */
export function dequantizeKRow(dtype: KQuantDType, data: Uint8Array, r: number, K: number, out: Float32Array): void {
  const bb = K_BLOCK_BYTES[dtype], nb = K / QK_K;
  for (let i = 0; i < nb; i++) {
    const b = (r * nb + i) * bb;
    let y = i * QK_K;
    if (dtype === "q6_k") {
      const d = half(data, b + 208);
      let ql = b, qh = b + 128, sc = b + 192;
      for (let n = 0; n < 2; n++, y += 128, ql += 64, qh += 32, sc += 8) {
        for (let l = 0; l < 32; l++) {
          const is = l >> 4, h = data[qh + l];
          const s = (k: number) => (data[sc + is + k] << 24) >> 24;
          // d * sc * q in C's order: (d * sc) rounded, then * q rounded.
          out[y + l] = f(f(d * s(0)) * (((data[ql + l] & 0xf) | ((h & 3) << 4)) - 32));
          out[y + l + 32] = f(f(d * s(2)) * (((data[ql + l + 32] & 0xf) | (((h >> 2) & 3) << 4)) - 32));
          out[y + l + 64] = f(f(d * s(4)) * (((data[ql + l] >> 4) | (((h >> 4) & 3) << 4)) - 32));
          out[y + l + 96] = f(f(d * s(6)) * (((data[ql + l + 32] >> 4) | (((h >> 6) & 3) << 4)) - 32));
        }
      }
      continue;
    }
    const five = dtype === "q5_k";
    const d = half(data, b), min = half(data, b + 2);
    const qh = b + 16;
    let q = five ? b + 48 : b + 16;
    for (let j = 0; j < 4; j++, q += 32, y += 64) {
      const [s1, m1i] = scaleMinK4(2 * j, data, b + 4), [s2, m2i] = scaleMinK4(2 * j + 1, data, b + 4);
      const d1 = f(d * s1), m1 = f(min * m1i), d2 = f(d * s2), m2 = f(min * m2i);
      for (let l = 0; l < 32; l++) {
        const hb = five ? data[qh + l] : 0;
        const lo = (data[q + l] & 0xf) + ((hb >> (2 * j)) & 1 ? 16 : 0);
        const hi = (data[q + l] >> 4) + ((hb >> (2 * j + 1)) & 1 ? 16 : 0);
        out[y + l] = f(f(d1 * lo) - m1);
        out[y + l + 32] = f(f(d2 * hi) - m2);
      }
    }
  }
}

/** Bytes of a q3_k super-block: hmask[32] (each weight's third bit), qs[64] (low 2 bits), scales[12], f16 d. */
export const Q3_K_BLOCK_BYTES = 110;

/**
 * q3_k super-blocks (a type llama.cpp writes in Q3_K_S/M/L files, which the engine reads but keeps no kernels for)
 * as q6_k ones, losslessly: q3_k's weight d·(sc − 32)·q, q in −4…3 and sc 6-bit in 16 sub-blocks of 16, is q6_k's
 * d·scale·(q6 − 32) with the same d, scale = sc − 32 and q6 = q + 32, sub-block for sub-block. Both dequantize as
 * (d·scale)·q in float32, so the weights are bitwise dequantize_row_q3_K's, at 210 bytes a block instead of 110.
 */
export function q3kToQ6k(src: Uint8Array): Uint8Array {
  if (src.length % Q3_K_BLOCK_BYTES !== 0) throw new RangeError(`q3_k: ${src.length} bytes is not a whole number of ${Q3_K_BLOCK_BYTES}-byte blocks`);
  const nb = src.length / Q3_K_BLOCK_BYTES, out = new Uint8Array(nb * 210), q = new Uint8Array(QK_K);
  for (let i = 0; i < nb; i++) {
    const b = i * Q3_K_BLOCK_BYTES, o = i * 210, hm = b, qs = b + 32, sc = b + 96;
    // Weight y of half h, 32-run j, lane l (y = 128h + 32j + l): 2 bits at qs[32h + l] >> 2j, the third at
    // hmask[l] bit 4h + j (set: q as is, clear: q − 4), as dequantize_row_q3_K walks them.
    for (let h = 0; h < 2; h++) for (let j = 0; j < 4; j++) for (let l = 0; l < 32; l++) {
      const lo = (src[qs + 32 * h + l] >> (2 * j)) & 3, hi = (src[hm + l] >> (4 * h + j)) & 1;
      q[128 * h + 32 * j + l] = lo - (hi ? 0 : 4) + 32;
    }
    for (let h = 0; h < 2; h++) for (let l = 0; l < 32; l++) { // q6_k's packing (dequantizeKRow above)
      const y = 128 * h + l, q1 = q[y], q2 = q[y + 32], q3 = q[y + 64], q4 = q[y + 96];
      out[o + 64 * h + l] = (q1 & 0xf) | ((q3 & 0xf) << 4);
      out[o + 64 * h + l + 32] = (q2 & 0xf) | ((q4 & 0xf) << 4);
      out[o + 128 + 32 * h + l] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6);
    }
    // 16 scales of 6 bits: low 4 in scales[0..7] (low nibbles for sub-blocks 0-7, high for 8-15), high 2 in
    // scales[8..11] (byte 8 + s mod 4, bits 2·⌊s/4⌋).
    for (let k = 0; k < 16; k++) {
      const low = k < 8 ? src[sc + k] & 0xf : src[sc + k - 8] >> 4, high = (src[sc + 8 + (k & 3)] >> (2 * (k >> 2))) & 3;
      out[o + 192 + k] = ((low | (high << 4)) - 32) & 0xff;
    }
    out[o + 208] = src[b + 108]; out[o + 209] = src[b + 109];
  }
  return out;
}

/**
 * make_qkx2_quants: levels L[0..n) in [0, nmax] and (scale, −min) for x ≈ scale·L + min, min ≤ 0, searching
 * nstep+1 candidate scales around nmax / (max − min) for the least weighted squared error.
 */
function makeQkx2(n: number, nmax: number, x: Float32Array, xo: number, w: Float32Array, L: Uint8Array, lo: number,
  Laux: Uint8Array, rmin: number, rdelta: number, nstep: number): [number, number] {
  let min = x[xo], max = x[xo];
  let sumW = w[0], sumX = f(sumW * x[xo]);
  for (let i = 1; i < n; i++) {
    const v = x[xo + i];
    if (v < min) min = v;
    if (v > max) max = v;
    sumW = f(sumW + w[i]);
    sumX = f(sumX + f(w[i] * v));
  }
  if (min > 0) min = 0;
  if (max === min) {
    L.fill(0, lo, lo + n);
    return [0, -min];
  }
  let iscale = f(nmax / f(max - min));
  let scale = f(1 / iscale);
  let bestMad = 0;
  for (let i = 0; i < n; i++) {
    const r = nearestInt(f(iscale * f(x[xo + i] - min))) | 0;
    const l = r < 0 ? 0 : r > nmax ? nmax : r;
    L[lo + i] = l;
    const diff = f(f(f(scale * l) + min) - x[xo + i]);
    bestMad = f(bestMad + f(w[i] * f(diff * diff)));
  }
  for (let is = 0; is <= nstep; is++) {
    iscale = f(f(f(rmin + f(rdelta * is)) + nmax) / f(max - min));
    let sumL = 0, sumL2 = 0, sumXL = 0;
    for (let i = 0; i < n; i++) {
      const r = nearestInt(f(iscale * f(x[xo + i] - min))) | 0;
      const l = r < 0 ? 0 : r > nmax ? nmax : r;
      Laux[i] = l;
      const wl = f(w[i] * l);
      sumL = f(sumL + wl);
      sumL2 = f(sumL2 + f(wl * l));
      sumXL = f(sumXL + f(wl * x[xo + i]));
    }
    const D = f(f(sumW * sumL2) - f(sumL * sumL));
    if (D > 0) {
      let thisScale = f(f(f(sumW * sumXL) - f(sumX * sumL)) / D);
      let thisMin = f(f(f(sumL2 * sumX) - f(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = f(sumXL / sumL2);
      }
      let mad = 0;
      for (let i = 0; i < n; i++) {
        const diff = f(f(f(thisScale * Laux[i]) + thisMin) - x[xo + i]);
        mad = f(mad + f(w[i] * f(diff * diff)));
      }
      if (mad < bestMad) {
        for (let i = 0; i < n; i++) L[lo + i] = Laux[i];
        bestMad = mad;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  return [scale, -min];
}

/**
 * make_qx_quants with rmse_type 1 and no importance weights: signed levels L − nmax in [−nmax, nmax) and the
 * scale, trying 19 scales around −nmax / max for the best x²-weighted fit.
 */
function makeQx(n: number, nmax: number, x: Float32Array, xo: number, L: Uint8Array, lo: number): number {
  let max = 0, amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[xo + i]);
    if (ax > amax) { amax = ax; max = x[xo + i]; }
  }
  if (amax < GROUP_MAX_EPS) {
    L.fill(0, lo, lo + n);
    return 0;
  }
  const level = (iscale: number, v: number) => Math.max(-nmax, Math.min(nmax - 1, nearestInt(f(iscale * v))));
  let iscale = f(-nmax / max);
  let sumlx = 0, suml2 = 0;
  for (let i = 0; i < n; i++) {
    const v = x[xo + i];
    const l = level(iscale, v);
    L[lo + i] = l + nmax;
    const w = f(v * v);
    sumlx = f(sumlx + f(f(w * v) * l));
    suml2 = f(suml2 + f(f(w * l) * l));
  }
  let scale = suml2 ? f(sumlx / suml2) : 0;
  let best = f(scale * sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = f(-f(nmax + f(f(0.1) * is)) / max);
    sumlx = 0; suml2 = 0;
    for (let i = 0; i < n; i++) {
      const v = x[xo + i];
      const l = level(iscale, v);
      const w = f(v * v);
      sumlx = f(sumlx + f(f(w * v) * l));
      suml2 = f(suml2 + f(f(w * l) * l));
    }
    if (suml2 > 0 && f(sumlx * sumlx) > f(best * suml2)) {
      for (let i = 0; i < n; i++) L[lo + i] = nmax + level(iscale, x[xo + i]);
      scale = f(sumlx / suml2);
      best = f(scale * sumlx);
    }
  }
  return scale;
}

function putHalf(out: Uint8Array, o: number, v: number): void {
  const h = f32ToF16(v);
  out[o] = h & 0xff; out[o + 1] = h >> 8;
}

/** Quantize x (length a multiple of 256) as quantize_row_q*_K_ref does (no importance matrix). */
export function quantizeK(dtype: KQuantDType, x: Float32Array): Uint8Array {
  if (x.length % QK_K !== 0) throw new RangeError(`quantize ${dtype}: length ${x.length} is not a multiple of ${QK_K}`);
  const nb = x.length / QK_K, bb = K_BLOCK_BYTES[dtype];
  const out = new Uint8Array(nb * bb);
  const L = new Uint8Array(QK_K), Laux = new Uint8Array(32), weights = new Float32Array(32);
  const scales = new Float32Array(16), mins = new Float32Array(8);
  for (let i = 0; i < nb; i++) {
    const xo = i * QK_K, b = i * bb;
    if (dtype === "q6_k") { quantizeQ6KBlock(x, xo, out, b, L, scales); continue; }
    const five = dtype === "q5_k", nmax = five ? 31 : 15;
    let maxScale = 0, maxMin = 0;
    for (let j = 0; j < 8; j++) {
      let sumX2 = 0;
      for (let l = 0; l < 32; l++) sumX2 = f(sumX2 + f(x[xo + 32 * j + l] * x[xo + 32 * j + l]));
      const avX = f(Math.sqrt(f(sumX2 / 32)));
      for (let l = 0; l < 32; l++) weights[l] = f(avX + Math.abs(x[xo + 32 * j + l]));
      const [s, m] = five
        ? makeQkx2(32, 31, x, xo + 32 * j, weights, L, 32 * j, Laux, -0.5, f(0.1), 15)
        : makeQkx2(32, 15, x, xo + 32 * j, weights, L, 32 * j, Laux, -1, f(0.1), 20);
      scales[j] = s; mins[j] = m;
      if (s > maxScale) maxScale = s;
      if (m > maxMin) maxMin = m;
    }
    const invScale = maxScale > 0 ? f(63 / maxScale) : 0, invMin = maxMin > 0 ? f(63 / maxMin) : 0;
    const sc = b + 4;
    for (let j = 0; j < 8; j++) {
      const ls = Math.min(63, nearestInt(f(invScale * scales[j])) & 0xff);
      const lm = Math.min(63, nearestInt(f(invMin * mins[j])) & 0xff);
      if (j < 4) { out[sc + j] = ls; out[sc + j + 4] = lm; }
      else {
        out[sc + j + 4] = (ls & 0xf) | ((lm & 0xf) << 4);
        out[sc + j - 4] |= (ls >> 4) << 6;
        out[sc + j] |= (lm >> 4) << 6;
      }
    }
    putHalf(out, b, f(maxScale / 63));
    putHalf(out, b + 2, f(maxMin / 63));
    const dh = half(out, b), dminh = half(out, b + 2);
    for (let j = 0; j < 8; j++) {
      const [s, m] = scaleMinK4(j, out, sc);
      const d = f(dh * s);
      if (!d) continue; // keeps make_qkx2_quants' levels
      const dm = f(dminh * m);
      for (let ii = 0; ii < 32; ii++) L[32 * j + ii] = Math.max(0, Math.min(nmax, nearestInt(f(f(x[xo + 32 * j + ii] + dm) / d))));
    }
    if (!five) {
      for (let j = 0, q = b + 16; j < QK_K; j += 64, q += 32)
        for (let l = 0; l < 32; l++) out[q + l] = L[j + l] | (L[j + l + 32] << 4);
    } else {
      const qh = b + 16;
      for (let n = 0, q = b + 48, m1 = 1, m2 = 2; n < QK_K; n += 64, q += 32, m1 <<= 2, m2 <<= 2) {
        for (let j = 0; j < 32; j++) {
          let l1 = L[n + j], l2 = L[n + j + 32];
          if (l1 > 15) { l1 -= 16; out[qh + j] |= m1; }
          if (l2 > 15) { l2 -= 16; out[qh + j] |= m2; }
          out[q + j] = l1 | (l2 << 4);
        }
      }
    }
  }
  return out;
}

function quantizeQ6KBlock(x: Float32Array, xo: number, out: Uint8Array, b: number, L: Uint8Array, scales: Float32Array): void {
  let maxScale = 0, maxAbsScale = 0;
  for (let ib = 0; ib < 16; ib++) {
    const s = makeQx(16, 32, x, xo + 16 * ib, L, 16 * ib);
    scales[ib] = s;
    if (Math.abs(s) > maxAbsScale) { maxAbsScale = Math.abs(s); maxScale = s; }
  }
  if (maxAbsScale < GROUP_MAX_EPS) return; // an all-zero block (d = +0)
  const iscale = f(-128 / maxScale);
  putHalf(out, b + 208, f(1 / iscale));
  for (let ib = 0; ib < 16; ib++) out[b + 192 + ib] = Math.min(127, nearestInt(f(iscale * scales[ib]))) & 0xff;
  const dh = half(out, b + 208);
  for (let j = 0; j < 16; j++) {
    const d = f(dh * ((out[b + 192 + j] << 24) >> 24));
    if (!d) continue;
    for (let ii = 0; ii < 16; ii++) L[16 * j + ii] = Math.max(-32, Math.min(31, nearestInt(f(x[xo + 16 * j + ii] / d)))) + 32;
  }
  for (let j = 0, ql = b, qh = b + 128; j < QK_K; j += 128, ql += 64, qh += 32) {
    for (let l = 0; l < 32; l++) {
      const q1 = L[j + l] & 0xf, q2 = L[j + l + 32] & 0xf, q3 = L[j + l + 64] & 0xf, q4 = L[j + l + 96] & 0xf;
      out[ql + l] = q1 | (q3 << 4);
      out[ql + l + 32] = q2 | (q4 << 4);
      out[qh + l] = (L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6);
    }
  }
}
