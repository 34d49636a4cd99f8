// 16-bit weights (bf16, f16) are repacked at load into groups of 8 rows interleaved 8 columns at a time, rows
// zero-padded to a multiple of 8 and columns to a multiple of 32 (assembly/matmul_half.ts; the decode matvec
// walks a group's four quarters of K together). Every reader of that layout against the reference backend,
// on row counts around the groups (1, 7, 8, 9, 15, 17, 70, 130) and K around the chunks and quarters (1, 7, 8, 9, 32, 40, 264, 271, 1031):
// the decode matvec (T = 1), the small-batch matvecs (T = 2 … 16), the token-tiled matmul (small-batch range
// off: T = 2 … 17, 33, past one 16-token block), the prefill kernel (T = 17, 33), and the embedding gather of
// the same matrix (a tied embedding: rows of every group lane and of the padded last group). Bound: as
// wasm_matmul.test.ts, 1e-5 · Σ|x·w| (only the summation order differs); the gather is exact.

import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createRefBackend } from "../../src/kernels/ref/index.js";
import { refMatrix, widenRow } from "../../src/kernels/ref/matrix.js";
import { createWasmBackend, type WasmBackend } from "../../src/kernels/wasm/index.js";
import type { DType } from "../../src/tensor/tensor.js";
import { put, randn, storeAs, worst } from "./wasm_cases.js";

const CONFIGS = [
  { label: "threads=1", threads: 1, relaxed: false },
  { label: "threads=2 relaxed", threads: 2, relaxed: true },
];
const ref = createRefBackend();
let backends: WasmBackend[] = [];
beforeAll(async () => { backends = await Promise.all(CONFIGS.map((c) => createWasmBackend({ threads: c.threads, relaxed: c.relaxed }))); });
afterAll(() => { for (const b of backends) b.dispose?.(); });

const SMALL = { min: 2, max: 16 }, OFF = { min: 2, max: 1 };

function check(dtype: DType, N: number, K: number, seed: number): void {
  const st = storeAs(dtype, randn(N * K, seed, 0.5), N, K);
  const refW = ref.loadMatrix(st, N, K), wm = refMatrix(dtype, N, K, st.data), row = new Float32Array(K);
  const rows: Float32Array[] = [];
  for (let n = 0; n < N; n++) { widenRow(wm, n, row); rows.push(row.slice()); }
  backends.forEach((be, i) => {
    const w = be.loadMatrix(st, N, K);
    const runs: Array<[number, typeof SMALL]> = [[1, SMALL], [17, SMALL], [33, SMALL]];
    for (let T = 2; T <= 16; T++) runs.push([T, SMALL]);
    for (const T of [2, 3, 5, 16, 17, 33]) runs.push([T, OFF]);
    for (const [T, range] of runs) {
      be.matvecRows = range;
      const x = randn(T * K, seed + T, 1), want = new Float32Array(T * N);
      ref.matmul(want, x, refW, T);
      const absDot = new Float32Array(T * N);
      for (let t = 0; t < T; t++) for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += Math.abs(x[t * K + k] * rows[n][k]);
        absDot[t * N + n] = s;
      }
      const out = be.alloc(T * N);
      out.fill(NaN); // every element must be written
      be.matmul(out, put(be, x), w, T);
      const r = worst(out, want, (j) => 1e-5 * absDot[j] + 1e-30);
      const label = `${CONFIGS[i].label} ${dtype} N=${N} K=${K} T=${T} matvec rows ${range.min}-${range.max}`;
      expect(r.ratio, `${label}: out[${r.at}] = ${out[r.at]}, ref ${want[r.at]}`).toBeLessThanOrEqual(1);
    }
    // The same matrix as an embedding table: every row, in a shuffled order with repeats.
    const ids = Array.from({ length: N + 3 }, (_, j) => (j * 5 + 3) % N);
    const got = be.alloc(ids.length * K), want = new Float32Array(ids.length * K);
    be.embed(got, w, ids);
    ref.embed(want, refW, ids);
    expect(Array.from(got), `${CONFIGS[i].label} ${dtype} N=${N} K=${K} embed`).toEqual(Array.from(want));
  });
}

for (const dtype of ["bf16", "f16"] as DType[]) {
  describe(`wasm ${dtype} in 8-row groups`, () => {
    test("rows 1, 7, 8, 9 × K 1, 7, 8, 9, 32, 40", () => {
      for (const N of [1, 7, 8, 9]) for (const K of [1, 7, 8, 9, 32, 40]) check(dtype, N, K, N * 31 + K);
    });
    test("rows 15, 17, 70 × K 264, 271", () => {
      for (const N of [15, 17, 70]) for (const K of [264, 271]) check(dtype, N, K, N * 31 + K);
    });
    test("rows 130 × K 1031: the decode matvec split over threads in whole groups", () => check(dtype, 130, 1031, 7));
  });
}

// Every finite f16 value (±0, subnormals, the largest; Inf/NaN are not weights) through the widening: the gather
// bit for bit, and the decode matvec against one-hot activations (x = e_k: out = column k exactly; a −0 weight
// sums to +0, the only difference allowed).
describe("wasm f16 widening over all 63,488 finite halves", () => {
  const halves: number[] = [];
  for (let h = 0; h < 65536; h++) if (((h >> 10) & 31) !== 31) halves.push(h);
  const K = 1024, N = Math.ceil(halves.length / K);
  const bits = new Uint16Array(N * K);
  bits.set(halves);
  const st = { name: "all-halves", dtype: "f16" as DType, shape: [N, K], data: new Uint8Array(bits.buffer) };
  const wm = refMatrix("f16", N, K, st.data), rows: Float32Array[] = [];
  for (let n = 0; n < N; n++) { const r = new Float32Array(K); widenRow(wm, n, r); rows.push(r); }
  test("gather exact, decode matvec exact on one-hot rows", () => {
    backends.forEach((be, i) => {
      const w = be.loadMatrix(st, N, K);
      const got = be.alloc(N * K);
      be.embed(got, w, Array.from({ length: N }, (_, n) => n));
      const want = new Float32Array(N * K);
      rows.forEach((r, n) => want.set(r, n * K));
      expect(Array.from(new Uint32Array(got.buffer, got.byteOffset, N * K)), `${CONFIGS[i].label} gather bits`)
        .toEqual(Array.from(new Uint32Array(want.buffer)));
      be.matvecRows = SMALL;
      const out = be.alloc(N);
      for (const k of [0, 1, 5, 511, 512, 1000, 1023]) {
        const x = new Float32Array(K); x[k] = 1;
        be.matmul(out, put(be, x), w, 1);
        for (let n = 0; n < N; n++) expect(out[n], `${CONFIGS[i].label} row ${n} column ${k}`).toBe(rows[n][k] === 0 ? 0 : rows[n][k]);
      }
    });
  });
});
