// Dispatch of swiglu.wgsl.

import { WGSL } from "./wgsl.js";
import { grid, type GpuContext } from "./context.js";

export function swiglu(ctx: GpuContext, out: Float32Array, gu: Float32Array, T: number, F: number): void {
  const o = ctx.ref(out, T * F, "swiglu out"), g = ctx.ref(gu, T * 2 * F, "swiglu gu");
  if (T * F === 0) return;
  ctx.dispatch(ctx.pipeline(WGSL.swiglu, "swiglu"), { u32: [T, F, g.offset, o.offset] }, [g.buffer, o.buffer], grid(T * F, 256));
}
