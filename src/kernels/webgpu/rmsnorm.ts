// Dispatch of rmsnorm.wgsl: one thread a row; the in-place entry point when out and x share a buffer.

import { WGSL } from "./wgsl.js";
import type { GpuContext } from "./context.js";

export function rmsnorm(ctx: GpuContext, out: Float32Array, x: Float32Array, w: Float32Array, rows: number, dim: number, eps: number): void {
  const o = ctx.ref(out, rows * dim, "rmsnorm out"), xr = ctx.ref(x, rows * dim, "rmsnorm x"), wr = ctx.ref(w, dim, "rmsnorm w");
  if (rows === 0) return;
  const params = { u32: [rows, dim, xr.offset, o.offset, wr.offset], f32: [eps] };
  if (o.buffer === xr.buffer) {
    if (o.offset !== xr.offset) throw new RangeError("webgpu backend: rmsnorm out overlaps x at another offset");
    ctx.dispatch(ctx.pipeline(WGSL.rmsnorm, "rmsnorm_inplace"), params, [wr.buffer, xr.buffer], [Math.ceil(rows / 64)]);
  } else ctx.dispatch(ctx.pipeline(WGSL.rmsnorm, "rmsnorm"), params, [wr.buffer, xr.buffer, o.buffer], [Math.ceil(rows / 64)]);
}
