// Dispatch of rmsnorm.wgsl: one thread a row (portable) or a workgroup a row (GPUs); the in-place entry
// point when out and x share a buffer.

import { WGSL } from "./wgsl.js";
import { grid, type GpuContext } from "./context.js";

export function rmsnorm(ctx: GpuContext, out: Float32Array, x: Float32Array, w: Float32Array, rows: number, dim: number, eps: number): void {
  const o = ctx.ref(out, rows * dim, "rmsnorm out"), xr = ctx.ref(x, rows * dim, "rmsnorm x"), wr = ctx.ref(w, dim, "rmsnorm w");
  if (rows === 0) return;
  const params = { u32: [rows, dim, xr.offset, o.offset, wr.offset], f32: [eps] };
  const inPlace = o.buffer === xr.buffer;
  if (inPlace && o.offset !== xr.offset) throw new RangeError("webgpu backend: rmsnorm out overlaps x at another offset");
  const entry = (inPlace ? "rmsnorm_inplace" : "rmsnorm") + (ctx.workgroupKernels ? "_wg" : "");
  const buffers = inPlace ? [wr.buffer, xr.buffer] : [wr.buffer, xr.buffer, o.buffer];
  ctx.dispatch(ctx.pipeline(WGSL.rmsnorm, entry), params, buffers, ctx.workgroupKernels ? grid(rows, 1) : [Math.ceil(rows / 64)]);
}
