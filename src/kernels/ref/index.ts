// The reference backend: plain TypeScript loops, one file per op. Slow, readable, the oracle.

import type { Backend, Matrix } from "../backend.js";
import type { StoredTensor } from "../../tensor/tensor.js";
import { toFloat32 } from "../../tensor/tensor.js";
import { refMatrix, type RefMatrix } from "./matrix.js";
import { matmul } from "./matmul.js";
import { embed } from "./embed.js";
import { rmsnorm } from "./rmsnorm.js";
import { qkNormRope } from "./qk_norm_rope.js";
import { attention } from "./attention.js";
import { swiglu } from "./swiglu.js";
import { copyRows } from "./copy_rows.js";

export function createRefBackend(): Backend {
  return {
    name: "ref",
    alloc: (n) => new Float32Array(n),
    loadMatrix: (t: StoredTensor, rows, cols): Matrix => refMatrix(t.dtype, rows, cols, t.data),
    loadVector: (t) => toFloat32(t),
    embed: (out, table, ids) => embed(out, table as RefMatrix, ids),
    matmul: (out, x, w, T) => matmul(out, x, w as RefMatrix, T),
    rmsnorm,
    qkNormRope,
    attention,
    swiglu,
    copyRows,
    addInPlace(x, y, n) { for (let i = 0; i < n; i++) x[i] += y[i]; },
  };
}
