// The plain-TypeScript training kernels (float64 sums): the oracle the SIMD set (kernels/wasm/training.ts)
// is tested against, and what training runs on a backend without its own (the reference backend).

import type { TrainingKernels } from "../../kernels/backend.js";
import { crossEntropyBackward, crossEntropyForward } from "./cross_entropy.js";
import { matmulABtRows, matmulNN, matmulTN, transposeInto } from "./matmul.js";
import { qkNormRopeBackward, splitHeads } from "./qk_norm_rope.js";
import { rmsnormBackward } from "./rmsnorm.js";
import { swigluBackward } from "./swiglu.js";

export const refTrainingKernels: TrainingKernels = {
  name: "ref",
  allocI32: (n) => new Int32Array(n),
  abt: (out, A, B, M, N, K, acc) => matmulABtRows(out, A, B, 0, M, N, K, acc),
  nn: matmulNN,
  tn: matmulTN,
  transpose: transposeInto,
  ceForward(lse, tl, logits, targets, N, V) {
    crossEntropyForward(lse, logits, targets, N, V, 0);
    for (let n = 0; n < N; n++) tl[n] = targets[n] === -100 ? 0 : logits[n * V + targets[n]];
  },
  ceBackward: crossEntropyBackward,
  swigluBackward,
  rmsnormBackward,
  qkNormRopeBackward,
  splitHeads,
};
