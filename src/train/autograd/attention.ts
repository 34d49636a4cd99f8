// Causal grouped-query attention forward/backward (llm.c attention_forward / attention_backward).
// softmax(q kᵀ / sqrt(hd)) v per query head; query head h reads kv head h / (nQ / nKV) (repeat_interleave).
// Shapes: q (B, nQ, T, hd), k and v (B, nKV, T, hd) head-major; out (N, nQ·hd) token-major (the
// out_proj input, heads concatenated); att (B, nQ, T, T) keeps the probabilities (row t: s ≤ t).

import type { TrainingKernels } from "../../kernels/backend.js";

export interface AttentionShape { B: number; T: number; nQ: number; nKV: number; hd: number }

export function attentionForward(out: Float32Array, att: Float32Array, q: Float32Array, k: Float32Array,
  v: Float32Array, sh: AttentionShape): void {
  const { B, T, nQ, nKV, hd } = sh;
  const group = nQ / nKV, scale = 1 / Math.sqrt(hd), C = nQ * hd;
  const acc = new Float64Array(hd);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < nQ; h++) {
      const qh = (b * nQ + h) * T * hd, kvh = (b * nKV + Math.floor(h / group)) * T * hd;
      const ah = (b * nQ + h) * T * T;
      for (let t = 0; t < T; t++) {
        const qo = qh + t * hd, ao = ah + t * T;
        let max = -Infinity;
        for (let s = 0; s <= t; s++) {
          const ko = kvh + s * hd;
          let dot = 0;
          for (let i = 0; i < hd; i++) dot += q[qo + i] * k[ko + i];
          dot *= scale;
          att[ao + s] = dot;
          if (dot > max) max = dot;
        }
        let sum = 0;
        for (let s = 0; s <= t; s++) { const e = Math.exp(att[ao + s] - max); att[ao + s] = e; sum += e; }
        const inv = 1 / sum;
        acc.fill(0);
        for (let s = 0; s <= t; s++) {
          const p = att[ao + s] * inv;
          att[ao + s] = p;
          const vo = kvh + s * hd;
          for (let i = 0; i < hd; i++) acc[i] += p * v[vo + i];
        }
        const oo = (b * T + t) * C + h * hd;
        for (let i = 0; i < hd; i++) out[oo + i] = acc[i];
      }
    }
  }
}

/** dq, dk, dv (overwritten, head-major) from dout (N, nQ·hd). */
export function attentionBackward(dq: Float32Array, dk: Float32Array, dv: Float32Array, dout: Float32Array,
  att: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array, sh: AttentionShape): void {
  const { B, T, nQ, nKV, hd } = sh;
  const group = nQ / nKV, scale = 1 / Math.sqrt(hd), C = nQ * hd;
  dk.fill(0, 0, B * nKV * T * hd);
  dv.fill(0, 0, B * nKV * T * hd);
  const dp = new Float64Array(T);
  const dqAcc = new Float64Array(hd);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < nQ; h++) {
      const qh = (b * nQ + h) * T * hd, kvh = (b * nKV + Math.floor(h / group)) * T * hd;
      const ah = (b * nQ + h) * T * T;
      for (let t = 0; t < T; t++) {
        const qo = qh + t * hd, ao = ah + t * T, go = (b * T + t) * C + h * hd;
        // dp_s = dout_t · v_s ; dv_s += p_s dout_t
        let pdp = 0;
        for (let s = 0; s <= t; s++) {
          const vo = kvh + s * hd, p = att[ao + s];
          let d = 0;
          for (let i = 0; i < hd; i++) { const g = dout[go + i]; d += g * v[vo + i]; dv[vo + i] += p * g; }
          dp[s] = d;
          pdp += p * d;
        }
        // softmax backward, then through the scaled dot products
        dqAcc.fill(0);
        for (let s = 0; s <= t; s++) {
          const ds = att[ao + s] * (dp[s] - pdp) * scale;
          const ko = kvh + s * hd;
          for (let i = 0; i < hd; i++) { dqAcc[i] += ds * k[ko + i]; dk[ko + i] += ds * q[qo + i]; }
        }
        for (let i = 0; i < hd; i++) dq[qo + i] = dqAcc[i];
      }
    }
  }
}

/** The SIMD path: each (b, h) as matmuls; scratch is (T, T) + (T, hd) in the kernels' memory. */
export type AttentionKernels = Pick<TrainingKernels, "abt" | "nn" | "tn">;

export interface AttentionScratch { tt: Float32Array; th1: Float32Array }

/** attentionForward with S = Q Kᵀ and O = P V as matmuls (the masked half is computed and zeroed). */
export function attentionForwardMM(mm: AttentionKernels, out: Float32Array, att: Float32Array, q: Float32Array,
  k: Float32Array, v: Float32Array, sh: AttentionShape, s: AttentionScratch): void {
  const { B, T, nQ, nKV, hd } = sh;
  const group = nQ / nKV, scale = 1 / Math.sqrt(hd), C = nQ * hd;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < nQ; h++) {
      const qh = (b * nQ + h) * T * hd, kvh = (b * nKV + Math.floor(h / group)) * T * hd, ah = (b * nQ + h) * T * T;
      const P = att.subarray(ah, ah + T * T);
      mm.abt(P, q.subarray(qh, qh + T * hd), k.subarray(kvh, kvh + T * hd), T, T, hd, false);
      for (let t = 0; t < T; t++) {
        const o = t * T;
        let max = -Infinity;
        for (let u = 0; u <= t; u++) { const x = P[o + u] * scale; P[o + u] = x; if (x > max) max = x; }
        let sum = 0;
        for (let u = 0; u <= t; u++) { const e = Math.exp(P[o + u] - max); P[o + u] = e; sum += e; }
        const inv = 1 / sum;
        for (let u = 0; u <= t; u++) P[o + u] *= inv;
        P.fill(0, o + t + 1, o + T);
      }
      mm.nn(s.th1, P, v.subarray(kvh, kvh + T * hd), T, hd, T, false); // (T, hd)
      for (let t = 0; t < T; t++) out.set(s.th1.subarray(t * hd, t * hd + hd), (b * T + t) * C + h * hd);
    }
  }
}

/** attentionBackward as matmuls: dP = dO Vᵀ, dV += Pᵀ dO, dS = softmax backward, dQ = dS K, dK += dSᵀ Q. */
export function attentionBackwardMM(mm: AttentionKernels, dq: Float32Array, dk: Float32Array, dv: Float32Array,
  dout: Float32Array, att: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array, sh: AttentionShape,
  s: AttentionScratch): void {
  const { B, T, nQ, nKV, hd } = sh;
  const group = nQ / nKV, scale = 1 / Math.sqrt(hd), C = nQ * hd;
  dk.fill(0, 0, B * nKV * T * hd);
  dv.fill(0, 0, B * nKV * T * hd);
  const dO = s.th1, dS = s.tt;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < nQ; h++) {
      const qh = (b * nQ + h) * T * hd, kvh = (b * nKV + Math.floor(h / group)) * T * hd, ah = (b * nQ + h) * T * T;
      const P = att.subarray(ah, ah + T * T);
      const Kg = k.subarray(kvh, kvh + T * hd), Vg = v.subarray(kvh, kvh + T * hd);
      for (let t = 0; t < T; t++) dO.set(dout.subarray((b * T + t) * C + h * hd, (b * T + t) * C + h * hd + hd), t * hd);
      mm.abt(dS, dO, Vg, T, T, hd, false);                       // dP (T, T)
      mm.tn(dv.subarray(kvh, kvh + T * hd), P, dO, T, hd, T, true); // dV += Pᵀ dO
      for (let t = 0; t < T; t++) {
        const o = t * T;
        let pdp = 0;
        for (let u = 0; u <= t; u++) pdp += P[o + u] * dS[o + u];
        for (let u = 0; u <= t; u++) dS[o + u] = P[o + u] * (dS[o + u] - pdp) * scale;
        dS.fill(0, o + t + 1, o + T);
      }
      mm.nn(dq.subarray(qh, qh + T * hd), dS, Kg, T, hd, T, false);
      mm.tn(dk.subarray(kvh, kvh + T * hd), dS, q.subarray(qh, qh + T * hd), T, hd, T, true);
    }
  }
}
