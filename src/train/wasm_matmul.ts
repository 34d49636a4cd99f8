// A MatmulRunner on the WebAssembly backend (kernels/wasm: SIMD matmul, worker-thread pool). Training
// buffers are allocated in the backend's memory so the kernels read them in place; B (N, K) is handed
// to the f32 matmul as a weight matrix at its own address (no copy). float32 accumulation, like torch.

import type { WasmBackend, WasmMatrix } from "../kernels/wasm/index.js";
import type { MatmulRunner } from "./autograd/matmul.js";

export function wasmMatmul(be: WasmBackend): MatmulRunner {
  let scratch: Float32Array | null = null;
  return {
    name: `${be.name} ×${be.threads}`,
    alloc: (n) => be.alloc(n),
    abt(out, A, B, M, N, K, accumulate) {
      const w: WasmMatrix = { dtype: "f32", rows: N, cols: K, ptr: B.byteOffset, scales: 0 };
      if (!accumulate) { be.matmul(out, A, w, M); return; }
      if (!scratch || scratch.length < M * N) scratch = be.alloc(Math.max(M * N, (scratch?.length ?? 0) * 2));
      be.matmul(scratch, A, w, M);
      be.addInPlace(out, scratch, M * N);
    },
  };
}
