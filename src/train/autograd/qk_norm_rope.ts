// QK-norm + RoPE backward on the fused qkv rows, and the split into head-major q, k, v for attention.
// The forward is Backend.qkNormRope (HF OpenELM): per-head RMSNorm of queries (q_norm) and keys (k_norm) over
// hd, then rotate-half RoPE (pairs j, j + hd/2) with float32 angles a = f32(p) · inv_freq[j].
// Shapes: B sequences of T positions, N = B·T tokens (row n = b·T + t, position t), hd head_dim,
// S = (nQ + 2 nKV)·hd; qkv (N, S) token-major; q (B, nQ, T, hd), k and v (B, nKV, T, hd) head-major.

import { ropeInvFreq } from "../../kernels/ref/qk_norm_rope.js";

/**
 * dqkv (N, S) (overwritten) from dy (N, S), the gradient of the normalised and rotated rows, and the
 * pre-norm qkv; dqw, dkw (hd) accumulate (null: frozen or absent). Sums in float64.
 */
export function qkNormRopeBackward(dqkv: Float32Array, dqw: Float32Array | null, dkw: Float32Array | null,
  dy: Float32Array, qkv: Float32Array, qw: Float32Array | null, kw: Float32Array | null, N: number, T: number,
  nQ: number, nKV: number, hd: number, eps: number, theta: number): void {
  const S = (nQ + 2 * nKV) * hd, half = hd / 2, invFreq = ropeInvFreq(hd, theta);
  const g = new Float64Array(hd), dqAcc = new Float64Array(hd), dkAcc = new Float64Array(hd);
  for (let n = 0; n < N; n++) {
    const p = n % T, row = n * S;
    for (let h = 0; h < nQ + nKV; h++) {
      const o = row + h * hd, w = h < nQ ? qw : kw, acc = h < nQ ? dqAcc : dkAcc;
      for (let j = 0; j < half; j++) { // RoPE is a rotation: its transpose rotates by −angle
        const a = Math.fround(p * invFreq[j]), c = Math.fround(Math.cos(a)), sn = Math.fround(Math.sin(a));
        const g0 = dy[o + j], g1 = dy[o + j + half];
        g[j] = g0 * c + g1 * sn;
        g[j + half] = g1 * c - g0 * sn;
      }
      if (!w) { for (let i = 0; i < hd; i++) dqkv[o + i] = g[i]; continue; }
      let ss = 0;
      for (let i = 0; i < hd; i++) ss += qkv[o + i] * qkv[o + i];
      const s = Math.fround(1 / Math.sqrt(ss / hd + eps));
      let dot = 0;
      for (let i = 0; i < hd; i++) dot += g[i] * w[i] * qkv[o + i] * s;
      const m = dot / hd;
      for (let i = 0; i < hd; i++) {
        const xh = qkv[o + i] * s;
        acc[i] += g[i] * xh;
        dqkv[o + i] = s * (g[i] * w[i] - xh * m);
      }
    }
    dqkv.set(dy.subarray(row + (nQ + nKV) * hd, row + S), row + (nQ + nKV) * hd);
  }
  if (dqw && qw) for (let i = 0; i < hd; i++) dqw[i] += dqAcc[i];
  if (dkw && kw) for (let i = 0; i < hd; i++) dkw[i] += dkAcc[i];
}

/** qkv (N, S) token-major -> q, k, v head-major (merge: the reverse, q, k, v -> qkv). */
export function splitHeads(qkv: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array, N: number, T: number,
  nQ: number, nKV: number, hd: number, merge: boolean): void {
  const S = (nQ + 2 * nKV) * hd;
  for (let n = 0; n < N; n++) {
    const b = Math.floor(n / T), t = n % T;
    for (let h = 0; h < nQ + 2 * nKV; h++) {
      const src = n * S + h * hd;
      const [dst, d] = h < nQ ? [q, ((b * nQ + h) * T + t) * hd]
        : h < nQ + nKV ? [k, ((b * nKV + h - nQ) * T + t) * hd] : [v, ((b * nKV + h - nQ - nKV) * T + t) * hd];
      if (merge) qkv.set(dst.subarray(d, d + hd), src); else dst.set(qkv.subarray(src, src + hd), d);
    }
  }
}
