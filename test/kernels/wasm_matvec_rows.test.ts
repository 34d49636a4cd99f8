// The small-batch matvecs (a few activation rows against each weight row, as a batched decode step runs
// them), and the prefill kernels past that range (T = 67), against the reference backend and against the
// same backend's single-row decode matvec, on odd
// shapes (rows not a multiple of the 4-row groups or 2-row tiles, K with tails) and T = 1 … 9 rows (the
// 4-row passes, then the 2- and 1-row rests). Quantized weights: the integer dots are exact and the float
// steps the decode tile's, so a batched row equals its unbatched one bit for bit. Float weights: the
// same bound as wasm_matmul.test.ts, 1e-5 · Σ|x·w| (plus the activation quantization step for quantized
// weights against the reference).

import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createRefBackend } from "../../src/kernels/ref/index.js";
import { refMatrix, widenRow } from "../../src/kernels/ref/matrix.js";
import { createWasmBackend, type WasmBackend } from "../../src/kernels/wasm/index.js";
import { isQuantized, type DType } from "../../src/tensor/tensor.js";
import { put, randn, storeAs, worst } from "./wasm_cases.js";

const CONFIGS = [
  { label: "threads=1", threads: 1, relaxed: false },
  { label: "threads=2", threads: 2, relaxed: false },
  { label: "threads=2 relaxed", threads: 2, relaxed: true },
];
const ref = createRefBackend();
let backends: WasmBackend[] = [];
// Every T from 2 to 16 through the small-batch kernels, whatever the default range. With 66 rows and T ≥ 7 the
// rows are split in chunks over the threads (each thread unpacks into its own scratch).
beforeAll(async () => { backends = await Promise.all(CONFIGS.map((c) => createWasmBackend({ threads: c.threads, relaxed: c.relaxed, matvecRows: { min: 2, max: 16 } }))); });
afterAll(() => { for (const b of backends) b.dispose?.(); });

function check(dtype: DType, N: number, K: number, seed: number): void {
  const quant = isQuantized(dtype);
  const st = storeAs(dtype, randn(N * K, seed, 0.5), N, K);
  const wm = refMatrix(dtype, N, K, st.data), row = new Float32Array(K);
  const rows: Float32Array[] = [];
  for (let n = 0; n < N; n++) { widenRow(wm, n, row); rows.push(row.slice()); }
  const refW = ref.loadMatrix(st, N, K);
  backends.forEach((be, i) => {
    const w = be.loadMatrix(st, N, K);
    // 67: a prefill past one token block (64) of the quantized pairs and float rows kernels, with a 3-row rest
    for (const T of [1, 2, 3, 4, 5, 6, 7, 8, 9, 67]) {
      const x = randn(T * K, seed + T, 1);
      const want = new Float32Array(T * N);
      ref.matmul(want, x, refW, T);
      const absDot = new Float32Array(T * N), quantErr = new Float32Array(T * N);
      for (let t = 0; t < T; t++) for (let n = 0; n < N; n++) {
        let s = 0, q = 0;
        for (let b = 0; b < K; b += 32) {
          let amax = 0, wsum = 0;
          for (let k = b; k < Math.min(K, b + 32); k++) {
            s += Math.abs(x[t * K + k] * rows[n][k]);
            amax = Math.max(amax, Math.abs(x[t * K + k]));
            wsum += Math.abs(rows[n][k]);
          }
          q += (amax / 254) * wsum;
        }
        absDot[t * N + n] = s;
        quantErr[t * N + n] = quant ? q * 1.001 : 0;
      }
      const out = be.alloc(T * N);
      out.fill(NaN); // every element must be written
      const bx = put(be, x);
      be.matmul(out, bx, w, T);
      const label = `${CONFIGS[i].label} ${dtype} N=${N} K=${K} T=${T}`;
      const r = worst(out, want, (j) => 1e-5 * absDot[j] + quantErr[j] + 1e-30);
      expect(r.ratio, `${label}: out[${r.at}] = ${out[r.at]}, ref ${want[r.at]}`).toBeLessThanOrEqual(1);
      // Each row against the decode matvec of that row alone.
      const one = be.alloc(N);
      for (let t = 0; t < T; t++) {
        be.matmul(one, bx.subarray(t * K, (t + 1) * K), w, 1);
        const got = out.subarray(t * N, (t + 1) * N);
        if (quant) expect(Array.from(got), `${label} row ${t}`).toEqual(Array.from(one));
        else {
          const u = worst(got, one, (j) => 1e-5 * absDot[t * N + j] + 1e-30);
          expect(u.ratio, `${label} row ${t}: out[${u.at}] = ${got[u.at]}, alone ${one[u.at]}`).toBeLessThanOrEqual(1);
        }
      }
    }
  });
}

for (const dtype of ["q8_0", "q4_0"] as DType[]) {
  describe(`wasm small-batch matvec ${dtype}`, () => {
    for (const [N, K] of [[1, 32], [7, 224], [33, 64], [66, 320]]) {
      test(`N=${N} K=${K}, T = 1 … 9 and 67`, () => check(dtype, N, K, N * 7919 + K));
    }
  });
}

for (const dtype of ["f32", "bf16", "f16"] as DType[]) {
  describe(`wasm small-batch matvec ${dtype}`, () => {
    for (const [N, K] of [[1, 7], [7, 33], [33, 264], [66, 330]]) {
      test(`N=${N} K=${K}, T = 1 … 9 and 67`, () => check(dtype, N, K, N * 7919 + K));
    }
  });
}

test("the default range takes batched decode steps of 4 … 16 sequences", async () => {
  const be = await createWasmBackend({ threads: 1 });
  try { expect(be.matvecRows).toEqual({ min: 4, max: 16 }); } finally { be.dispose?.(); }
});
