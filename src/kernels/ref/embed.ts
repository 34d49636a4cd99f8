// Embedding lookup: copy rows of the (V, D) table, widened to float32.

import type { RefMatrix } from "./matrix.js";
import { widenRow } from "./matrix.js";

export function embed(out: Float32Array, table: RefMatrix, ids: ArrayLike<number>): void {
  const D = table.cols;
  for (let t = 0; t < ids.length; t++) widenRow(table, ids[t], out.subarray(t * D, (t + 1) * D));
}
