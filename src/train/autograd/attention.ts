// Causal grouped-query attention forward/backward (llm.c attention_forward / attention_backward).
// softmax(q kᵀ / sqrt(hd)) v per query head; query head h reads kv head h / (nQ / nKV) (repeat_interleave).
// Shapes: q (B, nQ, T, hd), k and v (B, nKV, T, hd) head-major; out (N, nQ·hd) token-major (the
// out_proj input, heads concatenated); att (B, nQ, T, T) keeps the probabilities (row t: s ≤ t).

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
