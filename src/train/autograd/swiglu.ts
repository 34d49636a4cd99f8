// SwiGLU backward; the forward is Backend.swiglu: out = silu(gate) · up with [gate | up] = proj_1 output
// (HF chunk(2) order). Shapes: N tokens, F ffn width; gu (N, 2F), out (N, F).

/** dgu (N, 2F) = d/d[gate | up] of dout (N, F) (overwritten). */
export function swigluBackward(dgu: Float32Array, dout: Float32Array, gu: Float32Array, N: number, F: number): void {
  for (let n = 0; n < N; n++) {
    const g0 = n * 2 * F, o = n * F;
    for (let f = 0; f < F; f++) {
      const g = gu[g0 + f], u = gu[g0 + F + f], d = dout[o + f];
      const sig = 1 / (1 + Math.exp(-g));
      dgu[g0 + f] = d * u * sig * (1 + g * (1 - sig)); // d silu / dg = σ(g)(1 + g(1 − σ(g)))
      dgu[g0 + F + f] = d * g * sig;
    }
  }
}
