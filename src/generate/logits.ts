// Logits processors with Hugging Face semantics (transformers generation/logits_process.py), applied in
// HF's order: repetition penalty, then temperature, top-k, top-p, min-p. All work in place on one row.

/** RepetitionPenaltyLogitsProcessor: every token already in the context gets score/p if positive, score*p if negative. */
export function applyRepetitionPenalty(logits: Float32Array, context: ArrayLike<number>, penalty: number): void {
  if (penalty === 1) return;
  const seen = new Set<number>();
  for (let i = 0; i < context.length; i++) seen.add(context[i]);
  for (const id of seen) {
    const s = logits[id];
    logits[id] = s < 0 ? s * penalty : s / penalty;
  }
}

/** OpenAI-style presence / frequency penalties: subtract presence once and frequency × count per token seen. */
export function applyPresenceFrequency(logits: Float32Array, generated: ArrayLike<number>, presence: number, frequency: number): void {
  if (!presence && !frequency) return;
  const counts = new Map<number, number>();
  for (let i = 0; i < generated.length; i++) counts.set(generated[i], (counts.get(generated[i]) ?? 0) + 1);
  for (const [id, n] of counts) logits[id] -= presence + frequency * n;
}

export function applyTemperature(logits: Float32Array, t: number): void {
  if (t === 1) return;
  for (let i = 0; i < logits.length; i++) logits[i] /= t;
}

/** TopKLogitsWarper: tokens scoring below the k-th best become -inf (ties with the k-th are kept). */
let topKScratch = new Float32Array(0); // reused across tokens: one sort buffer, not a V-sized copy a step

export function applyTopK(logits: Float32Array, k: number): void {
  if (k <= 0 || k >= logits.length) return;
  if (topKScratch.length !== logits.length) topKScratch = new Float32Array(logits.length);
  topKScratch.set(logits);
  const kth = topKScratch.sort()[logits.length - k]; // ascending: the k-th largest
  for (let i = 0; i < logits.length; i++) if (logits[i] < kth) logits[i] = -Infinity;
}

/** Indices sorted by logit ascending, and their softmax probabilities in that order. */
function sortedProbs(logits: Float32Array): { order: Uint32Array; probs: Float64Array } {
  const order = Uint32Array.from({ length: logits.length }, (_, i) => i).sort((a, b) => logits[a] - logits[b]);
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  const probs = new Float64Array(logits.length);
  let sum = 0;
  for (let j = 0; j < order.length; j++) { probs[j] = Math.exp(logits[order[j]] - max); sum += probs[j]; }
  for (let j = 0; j < order.length; j++) probs[j] /= sum;
  return { order, probs };
}

/** TopPLogitsWarper: with tokens sorted ascending, drop those whose cumulative probability is ≤ 1 - p (keep ≥ 1). */
export function applyTopP(logits: Float32Array, p: number): void {
  if (p >= 1) return;
  const { order, probs } = sortedProbs(logits);
  let cum = 0;
  for (let j = 0; j < order.length - 1; j++) {
    cum += probs[j];
    if (cum <= 1 - p) logits[order[j]] = -Infinity;
  }
}

/** MinPLogitsWarper: drop tokens whose probability is below minP × the top probability (keep ≥ 1). */
export function applyMinP(logits: Float32Array, minP: number): void {
  if (minP <= 0) return;
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  // p_i < minP * p_max  <=>  logit_i < logit_max + ln(minP)
  const cut = max + Math.log(minP);
  for (let i = 0; i < logits.length; i++) if (logits[i] < cut) logits[i] = -Infinity;
}
