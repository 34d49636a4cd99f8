// Global gradient norm and max-norm clipping, as torch.nn.utils.clip_grad_norm_ (which CoreNet calls with
// common.grad_clip 1.0): norm = sqrt(Σ g²) over every parameter once; coef = min(1, max / (norm + 1e-6)).

/** sqrt of the sum of squares of all gradients (float64 accumulation). */
export function globalGradNorm(grads: Float32Array): number {
  let s = 0;
  for (let i = 0; i < grads.length; i++) s += grads[i] * grads[i];
  return Math.sqrt(s);
}

/** Scale grads in place so their global norm is at most maxNorm; returns the norm before and the coefficient. */
export function clipGradNorm(grads: Float32Array, maxNorm: number): { norm: number; coef: number } {
  const norm = globalGradNorm(grads);
  const coef = Math.min(1, maxNorm / (norm + 1e-6));
  if (coef < 1) for (let i = 0; i < grads.length; i++) grads[i] *= coef;
  return { norm, coef };
}
