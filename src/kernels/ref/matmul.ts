// out (T, N) = x (T, K) · Wᵀ, W (N, K) in its stored dtype, widened one row at a time.
// Sequential float32 accumulation (Math.fround), the plainest form of the op.

import type { RefMatrix } from "./matrix.js";
import { widenRow } from "./matrix.js";

export function matmul(out: Float32Array, x: Float32Array, w: RefMatrix, T: number): void {
  const N = w.rows, K = w.cols;
  const row = new Float32Array(K);
  for (let n = 0; n < N; n++) {
    widenRow(w, n, row);
    for (let t = 0; t < T; t++) {
      let acc = 0;
      const xo = t * K;
      for (let k = 0; k < K; k++) acc = Math.fround(acc + Math.fround(x[xo + k] * row[k]));
      out[t * N + n] = acc;
    }
  }
}
