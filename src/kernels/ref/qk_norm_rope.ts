// Per-head QK RMSNorm, then rotate-half ("NeoX") RoPE over the whole head, in place on the fused qkv rows.
// Angles in float32 as HF computes them: inv_freq[j] = f32(1 / θ^(2j/hd)), a = f32(p) · inv_freq[j].

import { rmsnorm } from "./rmsnorm.js";

export function ropeInvFreq(hd: number, theta: number): Float32Array {
  const f = new Float32Array(hd / 2);
  for (let j = 0; j < hd / 2; j++) f[j] = 1 / Math.pow(theta, (2 * j) / hd);
  return f;
}

/** Rotate one head vector x[o … o+hd) by position p. */
export function ropeHead(x: Float32Array, o: number, hd: number, p: number, invFreq: Float32Array): void {
  const half = hd / 2;
  for (let j = 0; j < half; j++) {
    const a = Math.fround(p * invFreq[j]);
    const c = Math.fround(Math.cos(a)), s = Math.fround(Math.sin(a));
    const x0 = x[o + j], x1 = x[o + j + half];
    x[o + j] = x0 * c - x1 * s;
    x[o + j + half] = x1 * c + x0 * s;
  }
}

export function qkNormRope(qkv: Float32Array, T: number, nQ: number, nKV: number, hd: number,
  qNorm: Float32Array | null, kNorm: Float32Array | null, eps: number, pos0: number, theta: number): void {
  const stride = (nQ + 2 * nKV) * hd;
  const invFreq = ropeInvFreq(hd, theta);
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < nQ + nKV; h++) {
      const o = t * stride + h * hd;
      const head = qkv.subarray(o, o + hd);
      const w = h < nQ ? qNorm : kNorm;
      if (w) rmsnorm(head, head, w, 1, hd, eps);
      ropeHead(qkv, o, hd, pos0 + t, invFreq);
    }
  }
}
