// Cross-entropy with ignore index and CoreNet's z-loss, fused with the softmax (llm.c
// fused_classifier). HF semantics: the mean over all counted targets of the batch. z-loss (CoreNet
// cross_entropy.py, z_loss_eps 1e-4): coef · mean over counted positions of logsumexp(logits)²,
// ignored positions left out (the masked intent; CoreNet's literal code adds log(V)² for them).
// Shapes: N = B·T positions, V vocab; targets (N) aligned with the logits rows (already shifted), −100 = ignored.

export const IGNORE_INDEX = -100;

export interface LossValues {
  /** Mean cross-entropy over the counted targets (0 when none). */
  ce: number;
  /** coef · mean logsumexp² over the counted targets. */
  zLoss: number;
  /** Counted targets. */
  count: number;
}

/** lse (N) receives logsumexp of each row (0 for ignored rows); the logits are left unchanged. */
export function crossEntropyForward(lse: Float32Array, logits: Float32Array, targets: Int32Array,
  N: number, V: number, zLossCoef: number): LossValues {
  let ce = 0, z = 0, count = 0;
  for (let n = 0; n < N; n++) {
    const y = targets[n];
    if (y === IGNORE_INDEX) { lse[n] = 0; continue; }
    const o = n * V;
    let max = -Infinity;
    for (let i = 0; i < V; i++) if (logits[o + i] > max) max = logits[o + i];
    let sum = 0;
    for (let i = 0; i < V; i++) sum += Math.exp(logits[o + i] - max);
    const l = max + Math.log(sum);
    lse[n] = l;
    ce += l - logits[o + y];
    z += l * l;
    count++;
  }
  return count === 0 ? { ce: 0, zLoss: 0, count } : { ce: ce / count, zLoss: (zLossCoef * z) / count, count };
}

/**
 * In place: logits (N, V) become (cs + zs · lse) · softmax − cs · onehot; ignored rows get 0. For the
 * gradient of scale · (ce + zLoss): cs = scale / count (d ce = (softmax − onehot) / count) and
 * zs = 2 · scale · coef / count (d z = coef · 2 · lse · softmax / count).
 */
export function crossEntropyBackward(logits: Float32Array, lse: Float32Array, targets: Int32Array, N: number,
  V: number, cs: number, zs: number): void {
  for (let n = 0; n < N; n++) {
    const y = targets[n], o = n * V;
    if (y === IGNORE_INDEX) { logits.fill(0, o, o + V); continue; }
    const l = lse[n], f = cs + zs * l;
    for (let i = 0; i < V; i++) logits[o + i] = Math.exp(logits[o + i] - l) * f;
    logits[o + y] -= cs;
  }
}
