// Causal grouped-query attention over the KV cache, softmax with the running max subtracted.

export function attention(out: Float32Array, q: Float32Array, qStride: number, kCache: Float32Array, vCache: Float32Array,
  T: number, pos0: number, nQ: number, nKV: number, hd: number): void {
  const group = nQ / nKV;
  const kvStride = nKV * hd;
  const scale = 1 / Math.sqrt(hd);
  const scores = new Float32Array(pos0 + T);
  for (let t = 0; t < T; t++) {
    const S = pos0 + t + 1; // keys visible to this query
    for (let h = 0; h < nQ; h++) {
      const g = Math.floor(h / group);
      const qo = t * qStride + h * hd;
      let max = -Infinity;
      for (let s = 0; s < S; s++) {
        const ko = s * kvStride + g * hd;
        let dot = 0;
        for (let i = 0; i < hd; i++) dot += q[qo + i] * kCache[ko + i];
        scores[s] = dot * scale;
        if (scores[s] > max) max = scores[s];
      }
      let sum = 0;
      for (let s = 0; s < S; s++) { scores[s] = Math.exp(scores[s] - max); sum += scores[s]; }
      const oo = t * nQ * hd + h * hd;
      for (let i = 0; i < hd; i++) out[oo + i] = 0;
      for (let s = 0; s < S; s++) {
        const p = scores[s] / sum;
        const vo = s * kvStride + g * hd;
        for (let i = 0; i < hd; i++) out[oo + i] += p * vCache[vo + i];
      }
    }
  }
}
