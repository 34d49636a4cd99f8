// Dispatch of qk_norm_rope.wgsl: the cos/sin table of positions pos0 … pos0+T-1 is computed here, exactly
// as kernels/ref/qk_norm_rope.ts does, and sent with the parameters.

import { WGSL } from "./wgsl.js";
import type { GpuContext } from "./context.js";
import { ropeInvFreq } from "../ref/qk_norm_rope.js";

export function qkNormRope(ctx: GpuContext, qkv: Float32Array, T: number, nQ: number, nKV: number, hd: number,
  qNorm: Float32Array | null, kNorm: Float32Array | null, eps: number, pos0: number, theta: number): void {
  const stride = (nQ + 2 * nKV) * hd;
  const a = ctx.ref(qkv, T * stride, "qkNormRope qkv");
  const qn = qNorm ? ctx.ref(qNorm, hd, "qNorm") : null, kn = kNorm ? ctx.ref(kNorm, hd, "kNorm") : null;
  if (T === 0) return;
  const half = hd / 2, inv = ropeInvFreq(hd, theta);
  const cs = new Float32Array(T * hd);
  for (let t = 0; t < T; t++)
    for (let j = 0; j < half; j++) {
      const ang = Math.fround((pos0 + t) * inv[j]);
      cs[t * hd + j] = Math.cos(ang);
      cs[t * hd + half + j] = Math.sin(ang);
    }
  const wg = ctx.workgroupKernels;
  ctx.dispatch(ctx.pipeline(WGSL.qk_norm_rope, wg ? "qk_norm_rope_wg" : "qk_norm_rope"),
    { u32: [T, nQ + nKV, stride, nQ, hd, a.offset, qn ? 1 : 0, kn ? 1 : 0, qn?.offset ?? 0, kn?.offset ?? 0], f32: [eps], tail: cs },
    [a.buffer, qn?.buffer ?? ctx.dummy, kn?.buffer ?? ctx.dummy], wg ? [nQ + nKV, T] : [Math.ceil((nQ + nKV) / 64), T]);
}
