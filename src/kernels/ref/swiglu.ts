// SwiGLU: out = silu(gate) * up with proj_1's rows split [gate | up] (HF modeling_openelm.py OpenELMFeedForwardNetwork: proj_1 output chunked in two).

export function swiglu(out: Float32Array, gu: Float32Array, T: number, F: number): void {
  for (let t = 0; t < T; t++) {
    const o = t * 2 * F;
    for (let i = 0; i < F; i++) {
      const g = gu[o + i];
      out[t * F + i] = (g / (1 + Math.exp(-g))) * gu[o + F + i];
    }
  }
}
