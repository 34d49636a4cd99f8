// Token embedding lookup forward/backward (llm.c encoder_forward / encoder_backward, without positions).
// Shapes: N tokens, D model_dim, table E (V, D).

/** out (N, D) = E[ids]. */
export function embeddingForward(out: Float32Array, E: Float32Array, ids: Int32Array, N: number, D: number): void {
  for (let n = 0; n < N; n++) out.set(E.subarray(ids[n] * D, ids[n] * D + D), n * D);
}

/** dE[ids[n]] += dout[n]: a tied table also receives the output projection's gradient elsewhere. */
export function embeddingBackward(dE: Float32Array, dout: Float32Array, ids: Int32Array, N: number, D: number): void {
  for (let n = 0; n < N; n++) {
    const e = ids[n] * D, o = n * D;
    for (let d = 0; d < D; d++) dE[e + d] += dout[o + d];
  }
}
