// QK-norm + RoPE forward/backward on the fused qkv projection, and the split into head-major q, k, v.
// Forward as HF OpenELM / kernels/ref/qk_norm_rope.ts: per-head RMSNorm of queries (q_norm) and keys
// (k_norm) over hd, then rotate-half RoPE (pairs j, j + hd/2) with float32 angles f32(p · inv_freq[j]).
// Shapes: B batch, T positions, N = B·T tokens (row n = b·T + t), hd head_dim, S = (nQ + 2 nKV)·hd;
// qkv (N, S) token-major; q (B, nQ, T, hd), k and v (B, nKV, T, hd) head-major for attention.

/** cos/sin (T, hd/2) of the float32 angles HF uses (same numbers as the inference kernel). */
export function ropeTables(T: number, hd: number, theta: number): { cos: Float32Array; sin: Float32Array } {
  const half = hd / 2;
  const invFreq = new Float32Array(half);
  for (let j = 0; j < half; j++) invFreq[j] = 1 / Math.pow(theta, (2 * j) / hd);
  const cos = new Float32Array(T * half), sin = new Float32Array(T * half);
  for (let p = 0; p < T; p++) {
    for (let j = 0; j < half; j++) {
      const a = Math.fround(p * invFreq[j]);
      cos[p * half + j] = Math.cos(a);
      sin[p * half + j] = Math.sin(a);
    }
  }
  return { cos, sin };
}

export interface QKVShape { B: number; T: number; nQ: number; nKV: number; hd: number; eps: number }

/** One head: dst = rope(rmsnorm(src) · w) (w null: no norm); returns rstd (1 when not normalised). */
function normRopeHead(dst: Float32Array, d0: number, src: Float32Array, s0: number, w: Float32Array | null,
  hd: number, eps: number, cos: Float32Array, sin: Float32Array, c0: number): number {
  const half = hd / 2;
  let s = 1;
  if (w) {
    let ss = 0;
    for (let i = 0; i < hd; i++) ss += src[s0 + i] * src[s0 + i];
    s = 1 / Math.sqrt(ss / hd + eps);
  }
  for (let j = 0; j < half; j++) {
    // HF rounds the normalised head to float32 before rotating it
    const x0 = Math.fround(w ? src[s0 + j] * s * w[j] : src[s0 + j]);
    const x1 = Math.fround(w ? src[s0 + j + half] * s * w[j + half] : src[s0 + j + half]);
    const c = cos[c0 + j], sn = sin[c0 + j];
    dst[d0 + j] = x0 * c - x1 * sn;
    dst[d0 + j + half] = x1 * c + x0 * sn;
  }
  return s;
}

export function qkNormRopeForward(q: Float32Array, k: Float32Array, v: Float32Array,
  qRstd: Float32Array, kRstd: Float32Array, qkv: Float32Array, qw: Float32Array | null, kw: Float32Array | null,
  sh: QKVShape, cos: Float32Array, sin: Float32Array): void {
  const { B, T, nQ, nKV, hd, eps } = sh;
  const S = (nQ + 2 * nKV) * hd, half = hd / 2;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const n = b * T + t, row = n * S, c0 = t * half;
      for (let h = 0; h < nQ; h++) {
        qRstd[n * nQ + h] = normRopeHead(q, ((b * nQ + h) * T + t) * hd, qkv, row + h * hd, qw, hd, eps, cos, sin, c0);
      }
      for (let h = 0; h < nKV; h++) {
        const dst = ((b * nKV + h) * T + t) * hd;
        kRstd[n * nKV + h] = normRopeHead(k, dst, qkv, row + (nQ + h) * hd, kw, hd, eps, cos, sin, c0);
        v.set(qkv.subarray(row + (nQ + nKV + h) * hd, row + (nQ + nKV + h + 1) * hd), dst);
      }
    }
  }
}

/** Backward of one head: un-rotate dy, then RMSNorm backward into dsrc (overwritten); dw accumulates. */
function normRopeHeadBackward(dsrc: Float32Array, s0: number, src: Float32Array, dy: Float32Array, d0: number,
  w: Float32Array | null, dw: Float32Array | null, s: number, hd: number, cos: Float32Array, sin: Float32Array,
  c0: number, tmp: Float32Array): void {
  const half = hd / 2;
  for (let j = 0; j < half; j++) { // RoPE is a rotation: its transpose rotates by −angle
    const g0 = dy[d0 + j], g1 = dy[d0 + j + half], c = cos[c0 + j], sn = sin[c0 + j];
    tmp[j] = g0 * c + g1 * sn;
    tmp[j + half] = g1 * c - g0 * sn;
  }
  if (!w) {
    for (let i = 0; i < hd; i++) dsrc[s0 + i] = tmp[i];
    return;
  }
  let dot = 0;
  for (let i = 0; i < hd; i++) dot += tmp[i] * w[i] * src[s0 + i] * s;
  const m = dot / hd;
  for (let i = 0; i < hd; i++) {
    const xh = src[s0 + i] * s;
    if (dw) dw[i] += tmp[i] * xh; // dw null: a frozen norm weight
    dsrc[s0 + i] = s * (tmp[i] * w[i] - xh * m);
  }
}

/** dqkv (N, S) (overwritten) from dq, dk, dv (head-major); dqw, dkw accumulate. */
export function qkNormRopeBackward(dqkv: Float32Array, dqw: Float32Array | null, dkw: Float32Array | null,
  dq: Float32Array, dk: Float32Array, dv: Float32Array, qkv: Float32Array, qw: Float32Array | null,
  kw: Float32Array | null, qRstd: Float32Array, kRstd: Float32Array, sh: QKVShape,
  cos: Float32Array, sin: Float32Array): void {
  const { B, T, nQ, nKV, hd } = sh;
  const S = (nQ + 2 * nKV) * hd, half = hd / 2;
  const tmp = new Float32Array(hd);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const n = b * T + t, row = n * S, c0 = t * half;
      for (let h = 0; h < nQ; h++) {
        normRopeHeadBackward(dqkv, row + h * hd, qkv, dq, ((b * nQ + h) * T + t) * hd, qw, dqw,
          qRstd[n * nQ + h], hd, cos, sin, c0, tmp);
      }
      for (let h = 0; h < nKV; h++) {
        const src = ((b * nKV + h) * T + t) * hd;
        normRopeHeadBackward(dqkv, row + (nQ + h) * hd, qkv, dk, src, kw, dkw, kRstd[n * nKV + h], hd, cos, sin,
          c0, tmp);
        dqkv.set(dv.subarray(src, src + hd), row + (nQ + nKV + h) * hd);
      }
    }
  }
}
