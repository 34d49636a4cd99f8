// Dispatch of embed.wgsl: ids checked here, sent with the parameters.

import { WGSL } from "./wgsl.js";
import { grid, type GpuContext } from "./context.js";
import type { GpuMatrix } from "./weights.js";

const CODE = WGSL.weights + WGSL.embed;

export function embed(ctx: GpuContext, out: Float32Array, table: GpuMatrix, ids: ArrayLike<number>): void {
  const D = table.cols, V = table.rows, T = ids.length;
  const o = ctx.ref(out, T * D, "embed out");
  const tail = new Uint32Array(Math.max(1, T));
  for (let t = 0; t < T; t++) {
    const id = ids[t];
    if (!Number.isInteger(id) || id < 0 || id >= V) throw new RangeError(`embed: token id ${id} at position ${t} is outside 0 … ${V - 1}`);
    tail[t] = id;
  }
  if (T === 0) return;
  ctx.dispatch(ctx.pipeline(CODE, "embed", { WT: table.wt }), { u32: [T, D, table.soff, o.offset], tail }, [table.buffer, o.buffer], grid(T * D, 256));
}
