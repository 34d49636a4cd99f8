// WebGPU kernels against the reference backend on odd shapes and edge values (zeros, magnitudes that
// overflow a naive softmax or exp), every weight dtype for matmul (matvec for T < 4, tiles above) and
// embed. Runs on SwiftShader in CI, so shapes stay small. Bounds as in the wasm tests: float weights differ
// from the reference only in summation order (1e-5 · Σ|x·w|); the GPU kernels keep activations in f32,
// so quantized weights get the same bound.

import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as fs from "node:fs";
import { createRefBackend } from "../../src/kernels/ref/index.js";
import { refMatrix, widenRow } from "../../src/kernels/ref/matrix.js";
import type { DType } from "../../src/tensor/tensor.js";
import type { WebGPUBackend } from "../../src/kernels/webgpu/index.js";
import { randn, storeAs, worst } from "./wasm_cases.js";
import { createWebGPU, get, nans, put } from "./webgpu_cases.js";
// @ts-expect-error a plain .mjs build script, no types
import { renderWgslModule } from "../../scripts/embed_wgsl.mjs";

const ref = createRefBackend();
let be: WebGPUBackend, wg: WebGPUBackend;
beforeAll(async () => { be = await createWebGPU(); wg = await createWebGPU("workgroup"); });
afterAll(() => { be?.dispose?.(); wg?.dispose?.(); });
/** The ops with a workgroup-memory variant run on both families (on SwiftShader, `be` is the portable one). */
const FAMILIES = [["", () => be], [" (workgroup kernels)", () => wg]] as const;

function expectClose(got: Float32Array, want: Float32Array, abs: number, rel: number, what: string): void {
  const { ratio, at } = worst(got, want, (i) => abs + rel * Math.abs(want[i]));
  expect(ratio, `${what}: [${at}] = ${got[at]}, ref ${want[at]}`).toBeLessThanOrEqual(1);
}

test("the adapter is there (SwiftShader or a GPU)", () => {
  expect(be.name).toBe("webgpu");
  console.log(`webgpu adapter: ${be.adapterInfo}`);
});

test("src/kernels/webgpu/wgsl.ts is up to date with the .wgsl files (npm run build regenerates it)", () => {
  expect(fs.readFileSync(new URL("../../src/kernels/webgpu/wgsl.ts", import.meta.url), "utf-8")).toBe(renderWgslModule());
});

test("the backend imports nothing from Node or npm (it runs in browsers and workers too)", () => {
  const dir = new URL("../../src/kernels/webgpu/", import.meta.url);
  for (const f of fs.readdirSync(dir).filter((n) => n.endsWith(".ts")))
    for (const m of fs.readFileSync(new URL(f, dir), "utf-8").matchAll(/from "([^"]+)"/g))
      expect(m[1].startsWith("."), `${f} imports ${m[1]}`).toBe(true);
});

async function checkMatmul(dtype: DType, N: number, K: number, T: number, xScale: number, seed: number, on: WebGPUBackend = be): Promise<void> {
  const be = on;
  const wv = randn(N * K, seed, 0.5);
  if (dtype === "q8_0" || dtype === "q4_0") wv.fill(0, 0, Math.min(32, K)); // an all-zero block (scale 0)
  const st = storeAs(dtype, wv, N, K);
  const x = randn(T * K, seed + 1, xScale);
  const want = new Float32Array(T * N);
  ref.matmul(want, x, ref.loadMatrix(st, N, K), T);
  const wm = refMatrix(dtype, N, K, st.data), row = new Float32Array(K), absDot = new Float32Array(T * N);
  for (let n = 0; n < N; n++) {
    widenRow(wm, n, row);
    for (let t = 0; t < T; t++) { let s = 0; for (let k = 0; k < K; k++) s += Math.abs(x[t * K + k] * row[k]); absDot[t * N + n] = s; }
  }
  const out = nans(be, T * N + 3), xb = put(be, [0, 0, ...x]); // x at an offset, out with a tail that stays NaN
  be.matmul(out, xb.subarray(2), be.loadMatrix(st, N, K), T);
  const got = await get(be, out);
  const { ratio, at } = worst(got.subarray(0, T * N), want, (j) => 1e-5 * absDot[j] + 1e-30);
  expect(ratio, `${dtype} N=${N} K=${K} T=${T}: out[${at}] = ${got[at]}, ref ${want[at]}`).toBeLessThanOrEqual(1);
  expect(Number.isNaN(got[T * N]), "matmul wrote past its output").toBe(true);
}

describe("webgpu matmul", () => {
  for (const dtype of ["f32", "bf16", "f16"] as DType[])
    test(`${dtype}: N, K in 1, 7, 33, 257; T 1, 3 (matvec), 4, 17 (tiles); activations 1 and 1e4`, async () => {
      for (const N of [1, 7, 33, 257]) for (const K of [1, 7, 33, 257]) for (const T of [1, 3, 4, 17])
        await checkMatmul(dtype, N, K, T, 1, N * 7919 + K * 31 + T);
      await checkMatmul(dtype, 257, 33, 17, 1e4, 6);
    });
  for (const dtype of ["q8_0", "q4_0"] as DType[])
    test(`${dtype}: N 1, 7, 33, 257; K 32, 224; T 1, 3, 4, 17`, async () => {
      for (const N of [1, 7, 33, 257]) for (const K of [32, 224]) for (const T of [1, 3, 4, 17])
        await checkMatmul(dtype, N, K, T, 1, N * 7919 + K * 31 + T);
    });
});

// The GPU family (workgroup memory, barriers), on SwiftShader too: a barrier costs it ~0.5 ms a workgroup,
// so a few shapes, chosen for the edges: rows and tokens past a 64-wide tile (65, 70), a partial 4-row
// group (7), K a multiple of 16 (tiles) and of 4 (matvec) or neither (33: the portable loops).
describe("webgpu matmul, workgroup kernels", () => {
  test("the family is the one asked for", () => {
    expect(wg.kernels).toBe("workgroup");
    expect(be.kernels).toBe(/swiftshader/i.test(be.adapterInfo) ? "portable" : "workgroup");
  });
  for (const dtype of ["f32", "bf16", "f16", "q8_0", "q4_0"] as DType[])
    test(`${dtype}: N 7, 65; K ${dtype.startsWith("q") ? "32, 288" : "20, 33, 48, 288"}; T 1, 3, 4, 70`, async () => {
      for (const N of [7, 65]) for (const K of dtype.startsWith("q") ? [32, 288] : [20, 33, 48, 288]) for (const T of [1, 3, 4, 70])
        await checkMatmul(dtype, N, K, T, 1, N * 7919 + K * 31 + T, wg);
      await checkMatmul(dtype, 130, 64, 5, 1e4, 6, wg);
    }, 60_000);
});

describe("webgpu embed", () => {
  for (const dtype of ["f32", "bf16", "f16", "q8_0", "q4_0"] as DType[]) {
    test(`${dtype}: rows widened exactly as the reference does`, async () => {
      const V = 33, D = dtype.startsWith("q") ? 224 : 1279;
      const st = storeAs(dtype, randn(V * D, 11, 2), V, D);
      const ids = [0, 32, 7, 7, 1];
      const want = new Float32Array(ids.length * D);
      ref.embed(want, ref.loadMatrix(st, V, D), ids);
      const out = nans(be, ids.length * D);
      be.embed(out, be.loadMatrix(st, V, D), ids);
      expectClose(await get(be, out), want, 0, 0, dtype);
    });
  }
  test("an id outside the table throws", () => {
    const st = storeAs("f32", randn(7 * 3, 1), 7, 3);
    expect(() => be.embed(be.alloc(3), be.loadMatrix(st, 7, 3), [7])).toThrow("embed: token id 7 at position 0 is outside 0 … 6");
  });
});

describe.each(FAMILIES)("webgpu rmsnorm%s", (_, family) => {
  let be: WebGPUBackend;
  beforeAll(() => { be = family(); });
  test("dim 1, 7, 33, 1279; rows 1, 3, 17; a zero row and a 1e15 row; in place and out of place", async () => {
    for (const dim of [1, 7, 33, 1279]) for (const rows of [1, 3, 17]) {
      const x = randn(rows * dim, dim + rows, 3), w = randn(dim, 5 + dim);
      x.fill(0, 0, dim);
      if (rows > 1) for (let i = dim; i < 2 * dim; i++) x[i] *= 1e15;
      const want = new Float32Array(rows * dim);
      ref.rmsnorm(want, x, w, rows, dim, 1e-6);
      const bx = put(be, x), bw = be.loadVector(storeAs("f32", w, 1, dim)), out = nans(be, rows * dim);
      be.rmsnorm(out, bx, bw, rows, dim, 1e-6);
      expectClose(await get(be, out), want, 1e-6, 1e-5, `dim=${dim} rows=${rows}`);
      be.rmsnorm(bx, bx, bw, rows, dim, 1e-6);
      expectClose(await get(be, bx), want, 1e-6, 1e-5, `dim=${dim} rows=${rows} in place`);
    }
  });
});

describe.each(FAMILIES)("webgpu qkNormRope%s", (_, family) => {
  let be: WebGPUBackend;
  beforeAll(() => { be = family(); });
  for (const { nQ, nKV, hd } of [{ nQ: 4, nKV: 2, hd: 16 }, { nQ: 3, nKV: 1, hd: 20 }, { nQ: 12, nKV: 3, hd: 64 }, { nQ: 1, nKV: 1, hd: 2 }, { nQ: 2, nKV: 1, hd: 256 }])
    test(`nQ=${nQ} nKV=${nKV} hd=${hd}, T 1, 3, 17, positions from 0 and 1000, with and without QK-norm`, async () => {
      for (const T of [1, 3, 17]) for (const pos0 of [0, 1000]) for (const norm of [true, false]) {
        const qkv = randn(T * (nQ + 2 * nKV) * hd, T + hd + pos0, 4), qn = randn(hd, 3), kn = randn(hd, 4);
        const want = qkv.slice();
        ref.qkNormRope(want, T, nQ, nKV, hd, norm ? qn : null, norm ? kn : null, 1e-6, pos0, 10000);
        const b = put(be, qkv);
        be.qkNormRope(b, T, nQ, nKV, hd, norm ? put(be, qn) : null, norm ? put(be, kn) : null, 1e-6, pos0, 10000);
        expectClose(await get(be, b), want, 2e-5, 2e-5, `T=${T} pos0=${pos0} norm=${norm}`);
      }
    });
});

describe.each(FAMILIES)("webgpu attention%s", (_, family) => {
  let be: WebGPUBackend;
  beforeAll(() => { be = family(); });
  for (const { nQ, nKV, hd } of [{ nQ: 4, nKV: 2, hd: 16 }, { nQ: 3, nKV: 1, hd: 20 }, { nQ: 6, nKV: 6, hd: 7 }, { nQ: 2, nKV: 1, hd: 130 }])
    test(`nQ=${nQ} nKV=${nKV} hd=${hd}: T 1, 3, 17 after 0 and 100 cached positions; scores up to ~1e4`, async () => {
      for (const T of [1, 3, 17]) for (const pos0 of [0, 100]) for (const scale of [1, 100]) {
        const S = pos0 + T, qStride = (nQ + 2 * nKV) * hd + 5;
        const q = randn(T * qStride, T + pos0, scale), k = randn(S * nKV * hd, 2 + S, scale), v = randn(S * nKV * hd, 3 + S);
        const want = new Float32Array(T * nQ * hd);
        ref.attention(want, q, qStride, k, v, T, pos0, nQ, nKV, hd);
        const out = nans(be, T * nQ * hd);
        be.attention(out, put(be, q), qStride, put(be, k), put(be, v), T, pos0, nQ, nKV, hd);
        // Scores of ~1e4 make the softmax nearly one-hot; their f32 rounding moves weights by ~1e-3 relative.
        expectClose(await get(be, out), want, scale > 1 ? 2e-3 : 2e-5, 1e-4, `T=${T} pos0=${pos0} scale=${scale}`);
      }
    });
});

describe("webgpu swiglu, addInPlace, copyRows", () => {
  test("swiglu F 1, 7, 33, 1279; T 1, 3, 17; gates up to ±1e4 (exp overflow) and zeros", async () => {
    for (const F of [1, 7, 33, 1279]) for (const T of [1, 3, 17]) {
      const gu = randn(T * 2 * F, F + T, 8);
      gu[0] = -1e4; if (F > 1) gu[1] = 1e4; if (F > 2) gu[2] = 0; if (F > 3) gu[3] = -100;
      const want = new Float32Array(T * F);
      ref.swiglu(want, gu, T, F);
      const out = nans(be, T * F);
      be.swiglu(out, put(be, gu), T, F);
      expectClose(await get(be, out), want, 1e-6, 1e-5, `F=${F} T=${T}`);
    }
  });
  test("addInPlace n 1, 7, 1279, 200003 (a 2-D grid of workgroups)", async () => {
    for (const n of [1, 7, 1279, 200_003]) {
      const x = randn(n + 1, n, 1e3), y = randn(n, n + 1);
      const want = x.slice();
      ref.addInPlace(want, y, n);
      const bx = put(be, x);
      be.addInPlace(bx, put(be, y), n);
      expectClose(await get(be, bx), want, 0, 0, `n=${n}`); // the element past n untouched
    }
  });
  test("copyRows: strided rows into an offset, the rest untouched", async () => {
    const src = randn(5 * 11, 1), dst = randn(9 * 4, 2);
    const want = dst.slice();
    ref.copyRows(want.subarray(8), 4, src.subarray(3), 11, 5, 3);
    const bd = put(be, dst);
    be.copyRows(bd.subarray(8), 4, put(be, src).subarray(3), 11, 5, 3);
    expectClose(await get(be, bd), want, 0, 0, "copyRows");
  });
});

describe("webgpu buffers", () => {
  test("a buffer the backend did not allocate is refused", () => {
    expect(() => be.addInPlace(new Float32Array(4), be.alloc(4), 4))
      .toThrow("webgpu backend: addInPlace x was not allocated by this backend (use alloc or loadVector)");
  });
  test("a buffer too short for the op is refused", () => {
    expect(() => be.swiglu(be.alloc(5), be.alloc(12), 1, 6)).toThrow("webgpu backend: swiglu out has 5 floats, needs 6");
  });
  test("kernels queued before a write see the old values, those after it the new ones", async () => {
    const x = put(be, [1, 2, 3]), y = put(be, [10, 20, 30]);
    be.addInPlace(x, y, 3);  // 11 22 33
    y.set([100, 200, 300]);
    be.write(y);
    be.addInPlace(x, y, 3);  // 111 222 333
    expect(Array.from(await get(be, x))).toEqual([111, 222, 333]);
  });
});
