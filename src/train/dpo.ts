// Direct Preference Optimization (Rafailov et al. 2023) with TRL's default sigmoid loss (trl DPOTrainer,
// loss_type "sigmoid", label_smoothing 0):
//   z = β [(log π(c) − log π_ref(c)) − (log π(r) − log π_ref(r))],   loss = −log σ(z) (mean over pairs)
// with each log π a sequence log-prob summed over the response tokens (labels −100 elsewhere). The reference is
// the frozen starting model: under LoRA / DoRA the same base with the adapter switched off.
// Shapes: P pairs a batch, as B = 2P sequences of T: chosen rows 0 … P−1, rejected rows P … 2P−1.

import type { TrainableOpenELM } from "./openelm_train.js";

export interface DpoResult {
  /** Mean −log σ(z) over the pairs. */
  loss: number;
  /** β (log π − log π_ref) of each chosen / rejected response (TRL's rewards/chosen, rewards/rejected). */
  rewardsChosen: number[];
  rewardsRejected: number[];
  /** Share of pairs whose chosen reward is above the rejected one; mean of the reward margins. */
  accuracy: number;
  margin: number;
}

/** −log σ(z) = softplus(−z), without overflow for large |z|. */
function softplusNeg(z: number): number {
  return z > 0 ? Math.log1p(Math.exp(-z)) : -z + Math.log1p(Math.exp(z));
}

/**
 * The DPO loss of P pairs (ids and position-aligned targets of 2P sequences of T) and, with backward, its
 * gradient accumulated into the policy's gradients (scaled by `scale`, e.g. 1 / micro-batches).
 * reference: a separate frozen model, or null to use the policy with its adapter switched off.
 */
export function dpoStep(policy: TrainableOpenELM, reference: TrainableOpenELM | null, ids: ArrayLike<number>,
  targets: ArrayLike<number>, P: number, T: number, beta: number, backward = true, scale = 1): DpoResult {
  const B = 2 * P;
  // reference log-probs first: its forward would overwrite the policy's activations
  let ref: Float64Array;
  if (reference) { reference.forward(ids, targets, B, T, 0); ref = reference.sequenceLogProbs(); }
  else {
    const seed = policy.dropoutSeed;
    policy.adapterEnabled = false; policy.dropoutSeed = null;
    try { policy.forward(ids, targets, B, T, 0); ref = policy.sequenceLogProbs(); } finally { policy.adapterEnabled = true; policy.dropoutSeed = seed; }
  }
  policy.forward(ids, targets, B, T, 0);
  const pi = policy.sequenceLogProbs();
  const w = new Float64Array(B), rc: number[] = [], rr: number[] = [];
  let loss = 0, acc = 0, margin = 0;
  for (let p = 0; p < P; p++) {
    const c = beta * (pi[p] - ref[p]), r = beta * (pi[P + p] - ref[P + p]), z = c - r;
    rc.push(c); rr.push(r);
    loss += softplusNeg(z) / P;
    acc += (c > r ? 1 : 0) / P; margin += (c - r) / P;
    // d loss / d log π(c) = −β σ(−z) / P, d / d log π(r) = +β σ(−z) / P
    const g = (beta / (1 + Math.exp(z))) / P;
    w[p] = -g * scale; w[P + p] = g * scale;
  }
  if (backward) policy.backwardSequences(w);
  return { loss, rewardsChosen: rc, rewardsRejected: rr, accuracy: acc, margin };
}
