// RMSNorm forward/backward (llm.c layernorm_forward / layernorm_backward without mean and bias).
// y = x / sqrt(mean(x²) + eps) · w over the last axis; eps 1e-6 as HF's OpenELMRMSNorm.
// Shapes: rows × dim, row-major.

/** out = rmsnorm(x) · w; rstd (rows) keeps 1 / sqrt(mean(x²) + eps) for the backward. */
export function rmsnormForward(out: Float32Array, rstd: Float32Array, x: Float32Array, w: Float32Array,
  rows: number, dim: number, eps: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    let ss = 0;
    for (let i = 0; i < dim; i++) ss += x[o + i] * x[o + i];
    const s = 1 / Math.sqrt(ss / dim + eps);
    rstd[r] = s;
    for (let i = 0; i < dim; i++) out[o + i] = x[o + i] * s * w[i];
  }
}

/**
 * dx += rstd · (dy·w − x̂ · mean(dy·w·x̂)), x̂ = x · rstd; dw += Σ_rows dy · x̂.
 * dx accumulates because the norm's input is a residual stream that already carries a gradient; dw null: frozen.
 */
export function rmsnormBackward(dx: Float32Array, dw: Float32Array | null, dy: Float32Array, x: Float32Array,
  w: Float32Array, rstd: Float32Array, rows: number, dim: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * dim, s = rstd[r];
    let dot = 0;
    for (let i = 0; i < dim; i++) dot += dy[o + i] * w[i] * x[o + i] * s;
    const m = dot / dim;
    for (let i = 0; i < dim; i++) {
      const xh = x[o + i] * s;
      if (dw) dw[i] += dy[o + i] * xh;
      dx[o + i] += s * (dy[o + i] * w[i] - xh * m);
    }
  }
}
