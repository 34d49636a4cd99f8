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

// top-p scratch, reused across tokens (V floats, instead of sorting V indices with a comparator a step)
let valScratch = new Float32Array(0);

/**
 * TopPLogitsWarper: with tokens sorted ascending (ties in index order), drop those whose cumulative
 * probability is ≤ 1 - p (keep ≥ 1). Only the head is sorted: the logits within ln τ of the best, τ lowered
 * until the mass outside them is surely dropped (≤ 1 - p); their cumulative sums run in ascending order on
 * top of that mass, as HF's sort-and-cumsum does, and give the cut value; ties at the cut go in index order.
 */
export function applyTopP(logits: Float32Array, p: number): void {
  if (p >= 1) return;
  const V = logits.length;
  if (valScratch.length !== V) valScratch = new Float32Array(V);
  let max = -Infinity;
  for (let i = 0; i < V; i++) if (logits[i] > max) max = logits[i];
  for (let lnTau = -10; ; lnTau = lnTau > -700 ? lnTau * 4 : -Infinity) {
    const floor = max + lnTau;
    let n = 0, low = 0;
    for (let i = 0; i < V; i++) if (logits[i] >= floor) valScratch[n++] = logits[i]; else low += Math.exp(logits[i] - max);
    const head = valScratch.subarray(0, n).sort(); // ascending
    let sum = low;
    for (let j = 0; j < n; j++) sum += Math.exp(head[j] - max);
    let cum = low / sum;
    if (cum > 1 - p - 1e-12 && lnTau > -Infinity) continue; // part of the tail might be kept: widen the head
    // J: the first ascending position kept (the last one, the best token, always is)
    let J = 0;
    for (; J < n - 1; J++) {
      cum += Math.exp(head[J] - max) / sum;
      if (!(cum <= 1 - p)) break;
    }
    const cut = head[J];
    let tiesDropped = 0; // head[f … J-1] equal the cut value: that many of its tokens (lowest ids) go
    for (let j = J - 1; j >= 0 && head[j] === cut; j--) tiesDropped++;
    for (let i = 0; i < V; i++) {
      if (logits[i] < cut) logits[i] = -Infinity;
      else if (logits[i] === cut && tiesDropped > 0) { logits[i] = -Infinity; tiesDropped--; }
    }
    return;
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
