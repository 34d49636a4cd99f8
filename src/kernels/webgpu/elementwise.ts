// Dispatch of elementwise.wgsl: addInPlace and copyRows.

import { WGSL } from "./wgsl.js";
import { grid, type GpuContext } from "./context.js";

export function addInPlace(ctx: GpuContext, x: Float32Array, y: Float32Array, n: number): void {
  const xr = ctx.ref(x, n, "addInPlace x"), yr = ctx.ref(y, n, "addInPlace y");
  if (xr.buffer === yr.buffer) throw new RangeError("webgpu backend: addInPlace x and y are views of one buffer");
  if (n === 0) return;
  ctx.dispatch(ctx.pipeline(WGSL.elementwise, "add"), { u32: [n, 1, xr.offset, 0, yr.offset, 0] }, [yr.buffer, xr.buffer], grid(n, 256));
}

export function copyRows(ctx: GpuContext, dst: Float32Array, dstStride: number, src: Float32Array, srcStride: number,
  rows: number, width: number): void {
  if (rows === 0 || width === 0) return;
  const d = ctx.ref(dst, (rows - 1) * dstStride + width, "copyRows dst"), s = ctx.ref(src, (rows - 1) * srcStride + width, "copyRows src");
  if (d.buffer === s.buffer) throw new RangeError("webgpu backend: copyRows dst and src are views of one buffer");
  ctx.dispatch(ctx.pipeline(WGSL.elementwise, "copy_rows"), { u32: [rows * width, width, d.offset, dstStride, s.offset, srcStride] },
    [s.buffer, d.buffer], grid(rows * width, 256));
}
