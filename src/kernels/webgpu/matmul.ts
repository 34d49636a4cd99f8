// Dispatch of matmul.wgsl (no workgroup memory: CPU adapters such as SwiftShader) or matmul_wg.wgsl
// (GPUs; K a multiple of 16 for the tiles, 4 for the matvec, else matmul.wgsl's loops): the matvec
// kernel for T < 4 (decode), tiles otherwise.

import { WGSL } from "./wgsl.js";
import { grid, type GpuContext } from "./context.js";
import type { GpuMatrix } from "./weights.js";

const CODE = WGSL.weights + WGSL.matmul;
const CODE_WG = WGSL.weights + WGSL.matmul_wg;
/** Below this many tokens a 4-token block would mostly idle. */
export const TILED_MIN_T = 4;

export function matmul(ctx: GpuContext, out: Float32Array, x: Float32Array, w: GpuMatrix, T: number): void {
  const N = w.rows, K = w.cols;
  const o = ctx.ref(out, T * N, "matmul out"), xr = ctx.ref(x, T * K, "matmul x");
  if (o.buffer === xr.buffer) throw new RangeError("webgpu backend: matmul out and x are views of one buffer");
  const params = { u32: [T, N, K, w.soff, xr.offset, o.offset] };
  const wg = ctx.workgroupKernels;
  if (T < TILED_MIN_T && wg && K % 4 === 0) {
    const [gx, gy] = grid(Math.ceil(N / 4), 1);
    ctx.dispatch(ctx.pipeline(CODE_WG, "matvec_wg", { WT: w.wt }), params, [w.buffer, xr.buffer, o.buffer], [gx, gy, T]);
  } else if (T >= TILED_MIN_T && wg && K % 16 === 0) {
    ctx.dispatch(ctx.pipeline(CODE_WG, "matmul_wg", { WT: w.wt }), params, [w.buffer, xr.buffer, o.buffer],
      [Math.ceil(N / 64), Math.ceil(T / 64)]);
  } else if (T < TILED_MIN_T) {
    const [gx, gy] = grid(Math.ceil(N / 4), 64);
    ctx.dispatch(ctx.pipeline(CODE, "matvec", { WT: w.wt }), params, [w.buffer, xr.buffer, o.buffer], [gx, gy, T]);
  } else {
    ctx.dispatch(ctx.pipeline(CODE, "matmul", { WT: w.wt }), params, [w.buffer, xr.buffer, o.buffer],
      [Math.ceil(N / 32), Math.ceil(T / 32)]);
  }
}
