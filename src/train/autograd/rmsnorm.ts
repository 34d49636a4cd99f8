// RMSNorm backward (llm.c layernorm_backward without mean and bias); the forward is Backend.rmsnorm.
// y = x / sqrt(mean(x²) + eps) · w over the last axis; eps 1e-6 as HF's OpenELMRMSNorm.
// Shapes: rows × dim, row-major.

/**
 * dx (+= when acc) rstd · (dy·w − x̂ · mean(dy·w·x̂)), x̂ = x · rstd, rstd = 1 / sqrt(mean(x²) + eps) recomputed
 * from x; dw += Σ_rows dy · x̂ (null: a frozen weight). Sums in float64.
 */
export function rmsnormBackward(dx: Float32Array, dw: Float32Array | null, dy: Float32Array, x: Float32Array,
  w: Float32Array, rows: number, dim: number, eps: number, acc: boolean): void {
  const dwAcc = dw ? new Float64Array(dim) : null;
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    let ss = 0;
    for (let i = 0; i < dim; i++) ss += x[o + i] * x[o + i];
    const s = Math.fround(1 / Math.sqrt(ss / dim + eps));
    let dot = 0;
    for (let i = 0; i < dim; i++) dot += dy[o + i] * w[i] * x[o + i] * s;
    const m = dot / dim;
    for (let i = 0; i < dim; i++) {
      const xh = x[o + i] * s;
      if (dwAcc) dwAcc[i] += dy[o + i] * xh;
      const g = s * (dy[o + i] * w[i] - xh * m);
      dx[o + i] = acc ? dx[o + i] + g : g;
    }
  }
  if (dw && dwAcc) for (let i = 0; i < dim; i++) dw[i] += dwAcc[i];
}
