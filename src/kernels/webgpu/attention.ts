// Dispatch of attention.wgsl: on GPUs one fused dispatch (attention_wg, S ≤ ATTENTION_WG_MAX_S); else
// scores, each row's softmax max and sum, then the weighted sum, with a scratch (scores, then the row
// statistics) grown on demand.

import { WGSL } from "./wgsl.js";
import type { GpuContext } from "./context.js";

/** attention.wgsl's MAX_S: the scores of one row that fit in workgroup memory (8 KB). */
const ATTENTION_WG_MAX_S = 2048;

export class Attention {
  private scratch: Float32Array | null = null;
  constructor(private readonly ctx: GpuContext) {}

  run(out: Float32Array, q: Float32Array, qStride: number, kCache: Float32Array, vCache: Float32Array,
    T: number, pos0: number, nQ: number, nKV: number, hd: number): void {
    const ctx = this.ctx, S = pos0 + T;
    if (T === 0) return;
    if (nQ % nKV !== 0) throw new RangeError(`attention: nQ ${nQ} is not a multiple of nKV ${nKV}`);
    const o = ctx.ref(out, T * nQ * hd, "attention out"), qr = ctx.ref(q, (T - 1) * qStride + nQ * hd, "attention q");
    const k = ctx.ref(kCache, S * nKV * hd, "attention kCache"), v = ctx.ref(vCache, S * nKV * hd, "attention vCache");
    if (ctx.workgroupKernels && S <= ATTENTION_WG_MAX_S) {
      const params = { u32: [T, pos0, nQ, nKV, hd, qStride, qr.offset, k.offset, v.offset, o.offset, S, 0], f32: [1 / Math.sqrt(hd)] };
      ctx.dispatch(ctx.pipeline(WGSL.attention, "attention_wg"), params, [qr.buffer, k.buffer, null, o.buffer, v.buffer], [nQ, T]);
      return;
    }
    const need = T * nQ * (S + 2);
    if (!this.scratch || this.scratch.length < need) this.scratch = ctx.alloc(Math.max(need, 2 * (this.scratch?.length ?? 0)));
    const sc = ctx.ref(this.scratch, 0, "attention scratch");
    const params = { u32: [T, pos0, nQ, nKV, hd, qStride, qr.offset, k.offset, v.offset, o.offset, S, T * nQ * S], f32: [1 / Math.sqrt(hd)] };
    ctx.dispatch(ctx.pipeline(WGSL.attention, "scores"), params, [qr.buffer, k.buffer, sc.buffer, null], [Math.ceil(S / 64), nQ, T]);
    ctx.dispatch(ctx.pipeline(WGSL.attention, "stats"), params, [null, null, sc.buffer, null], [Math.ceil(nQ / 64), T]);
    ctx.dispatch(ctx.pipeline(WGSL.attention, "attend"), params, [null, v.buffer, sc.buffer, o.buffer], [Math.ceil(hd / 64), nQ, T]);
  }
}
