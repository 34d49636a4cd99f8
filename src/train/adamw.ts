// AdamW exactly as torch.optim.AdamW (amsgrad off) with CoreNet's parameter groups
// (no_decay_bn_filter_bias: every 1-D parameter, i.e. the RMSNorm weights, gets weight decay 0):
//   p ← p·(1 − lr·wd);  m ← β1 m + (1−β1) g;  v ← β2 v + (1−β2) g²;
//   p ← p − (lr / (1 − β1^k)) · m / (sqrt(v) / sqrt(1 − β2^k) + eps)      k = 1, 2, ...
// Moments are float32 arrays in the parameters' flat layout; they are saved in trainer_state.

import type { ParamLayout } from "./parameters.js";
import { sharedFloat32 } from "./parameters.js";

export interface AdamWOptions {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

/** OpenELM pre-training values (CoreNet projects/openelm/pretraining_configs). */
export const OPENELM_ADAMW: AdamWOptions = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };

export class AdamW {
  readonly m: Float32Array;
  readonly v: Float32Array;
  /** Updates done so far (torch's state["step"]). */
  step = 0;

  constructor(readonly layout: ParamLayout, readonly opts: AdamWOptions = OPENELM_ADAMW) {
    this.m = sharedFloat32(layout.total);
    this.v = sharedFloat32(layout.total);
  }

  /** One update of params from grads (already clipped) with learning rate lr. */
  update(params: Float32Array, grads: Float32Array, lr: number): void {
    const { beta1, beta2, eps, weightDecay } = this.opts;
    this.step++;
    const bc1 = 1 - Math.pow(beta1, this.step), bc2Sqrt = Math.sqrt(1 - Math.pow(beta2, this.step));
    const stepSize = lr / bc1;
    const m = this.m, v = this.v;
    for (const p of this.layout.infos) {
      if (!p.trainable) continue; // torch skips parameters without a gradient (not even decayed)
      const decay = p.decay ? 1 - lr * weightDecay : 1;
      const end = p.offset + p.size;
      for (let i = p.offset; i < end; i++) {
        const g = grads[i];
        const mi = beta1 * m[i] + (1 - beta1) * g;
        const vi = beta2 * v[i] + (1 - beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        params[i] = params[i] * decay - (stepSize * Math.fround(mi)) / (Math.sqrt(Math.fround(vi)) / bc2Sqrt + eps);
      }
    }
  }
}
