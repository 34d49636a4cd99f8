// Decode matvec (T = 1) of the wasm backend on OpenELM-270M's layer shapes, every weight dtype, 1 and 2
// threads: `npx vitest bench test/kernels/matmul.bench.ts` (not part of `npm test`). Each case is first
// checked against the reference backend (llm.c dev/cuda: validate_result, then benchmark_kernel).

import { afterAll, bench, beforeAll, describe } from "vitest";
import type { Backend, Matrix } from "../../src/kernels/backend.js";
import { createRefBackend } from "../../src/kernels/ref/index.js";
import type { DType } from "../../src/tensor/tensor.js";
import { createWasmBackend, type WasmBackend } from "../../src/kernels/wasm/index.js";
import { put, randn, storeAs } from "./wasm_cases.js";

// OpenELM-270M: model_dim 1280, head_dim 64; layer 8 has 16 query / 4 KV heads and FFN width 3072.
const SHAPES = [
  { name: "qkv_proj", N: (16 + 2 * 4) * 64, K: 1280 },
  { name: "proj_1", N: 2 * 3072, K: 1280 },
  { name: "proj_2", N: 1280, K: 3072 },
];
const DTYPES: DType[] = ["f32", "bf16", "q8_0", "q4_0", "q4_k", "q5_k", "q6_k"];

let backends: WasmBackend[] = [];
beforeAll(async () => { backends = [await createWasmBackend({ threads: 1 }), await createWasmBackend({ threads: 2 })]; });
afterAll(() => { for (const b of backends) b.dispose?.(); });

function validate(be: Backend, w: Matrix, refW: Matrix, x: Float32Array, N: number, label: string): void {
  const want = new Float32Array(N), got = be.alloc(N);
  createRefBackend().matmul(want, x, refW, 1);
  be.matmul(got, put(be, x), w, 1);
  let err = 0, scale = 0;
  for (let i = 0; i < N; i++) { err = Math.max(err, Math.abs(got[i] - want[i])); scale = Math.max(scale, Math.abs(want[i])); }
  if (!(err <= 0.05 * scale)) throw new Error(`${label}: max error ${err} against the reference (scale ${scale})`);
}

for (const { name, N, K } of SHAPES) {
  for (const dtype of DTYPES) {
    describe(`${name} ${N}x${K} ${dtype}`, () => {
      for (const threads of [1, 2]) {
        let run = () => {};
        bench(`${threads} thread${threads > 1 ? "s" : ""}`, () => run(), {
          time: 500,
          setup: () => {
            const be = backends[threads - 1];
            const st = storeAs(dtype, randn(N * K, 7, 0.05), N, K);
            const x = randn(K, 8);
            const w = be.loadMatrix(st, N, K);
            validate(be, w, createRefBackend().loadMatrix(st, N, K), x, N, `${name} ${dtype}`);
            const bx = put(be, x), out = be.alloc(N);
            run = () => be.matmul(out, bx, w, 1);
          },
        });
      }
    });
  }
}
