// The SIMD training kernels (src/train/wasm) against the plain-TS kernels: matmul in its three layouts on
// odd shapes, the transpose, the fused cross-entropy rows, and a whole fixture gradient through them.

import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, test } from "vitest";
import { matmulABtRows } from "../../src/train/autograd/matmul.js";
import { crossEntropyBackward, crossEntropyForward } from "../../src/train/autograd/cross_entropy.js";
import { swigluBackward, swigluForward } from "../../src/train/autograd/swiglu.js";
import { TrainableOpenELM } from "../../src/train/openelm_train.js";
import { loadParams } from "../../src/train/parameters.js";
import { createWasmTrainKernels } from "../../src/train/wasm/train_kernels.js";
import { expectFixtureGradients, loadTrainFixture } from "./train_fixture.js";

const k = await createWasmTrainKernels(1);

function rand(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) { x = (Math.imul(x, 1664525) + 1013904223) >>> 0; a[i] = x / 2 ** 31 - 1; }
  return a;
}
const put = (a: Float32Array) => { const b = k.alloc(a.length); b.set(a); return b; };
function transposed(a: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = a[r * cols + c];
  return t;
}
function expectClose(got: Float32Array, want: Float32Array, tol: number): void {
  let max = 0;
  for (let i = 0; i < want.length; i++) max = Math.max(max, Math.abs(got[i] - want[i]) / (1 + Math.abs(want[i])));
  expect(max).toBeLessThan(tol);
}

describe("SIMD matmul kernels vs the TS kernel", () => {
  for (const [M, N, K] of [[1, 1, 1], [7, 13, 5], [4, 8, 16], [33, 17, 130], [64, 40, 300], [5, 1279, 9]]) {
    for (const acc of [false, true]) {
      test(`M ${M}, N ${N}, K ${K}${acc ? ", accumulate" : ""}`, () => {
        const A = rand(M * K, M + N), Bnt = rand(N * K, K), init = rand(M * N, 3);
        const want = init.slice();
        matmulABtRows(want, A, Bnt, 0, M, N, K, acc);
        const o1 = put(init), o2 = put(init), o3 = put(init);
        k.abt(o1, put(A), put(Bnt), M, N, K, acc);                     // A · Bᵀ
        k.nn!(o2, put(A), put(transposed(Bnt, N, K)), M, N, K, acc);   // A · B with B = Bᵀ stored (K, N)
        k.tn!(o3, put(transposed(A, M, K)), put(transposed(Bnt, N, K)), M, N, K, acc); // (Aᵀ)ᵀ · B
        expectClose(o1, want, 1e-5); expectClose(o2, want, 1e-5); expectClose(o3, want, 1e-5);
      });
    }
  }

  test("transpose of a column slice is exact", () => {
    const x = rand(37 * 50, 9), out = k.alloc(20 * 37);
    k.transpose!(out, put(x), 37, 20, 50, 11);
    for (let c = 0; c < 20; c++) for (let r = 0; r < 37; r++) expect(out[c * 37 + r]).toBe(x[r * 50 + 11 + c]);
  });

  test("SwiGLU rows vs the TS kernel (F = 13: SIMD body and scalar tail)", () => {
    const N = 5, F = 13;
    const gu = rand(N * 2 * F, 4).map((v) => v * 6), dout = rand(N * F, 8);
    const out = new Float32Array(N * F), dgu = new Float32Array(N * 2 * F);
    swigluForward(out, gu, N, F);
    swigluBackward(dgu, dout, gu, N, F);
    const o2 = k.alloc(N * F), d2 = k.alloc(N * 2 * F), g2 = put(gu);
    k.swigluForward!(o2, g2, N, F);
    k.swigluBackward!(d2, put(dout), g2, N, F);
    expectClose(o2, out, 2e-6);
    expectClose(d2, dgu, 2e-6);
  });

  test("fused cross-entropy rows vs the TS loss and gradient (ignored rows, z-loss)", () => {
    const N = 9, V = 1283;
    const logits = rand(N * V, 5).map((v) => v * 8);
    const targets = Int32Array.from([3, -100, 1282, 0, 77, -100, 5, 900, 11]);
    const lse = new Float32Array(N), want = logits.slice();
    const ref = crossEntropyForward(lse, want, targets, N, V, 1e-4);
    crossEntropyBackward(want, lse, targets, N, V, ref.count, 1e-4, 0.5);
    const L = put(logits), T = k.allocI32!(N), lse2 = k.alloc(N), tl = k.alloc(N);
    T.set(targets);
    k.ceForward!(lse2, tl, L, T, N, V);
    for (let n = 0; n < N; n++) expect(Math.abs(lse2[n] - lse[n])).toBeLessThan(2e-6 * (1 + Math.abs(lse[n])));
    k.ceBackward!(L, lse2, T, N, V, 0.5 / ref.count, (0.5 * 1e-4 * 2) / ref.count);
    let max = 0;
    for (let i = 0; i < want.length; i++) max = Math.max(max, Math.abs(L[i] - want[i]));
    expect(max).toBeLessThan(1e-7);
  });
});

test("fixture gradients through the SIMD kernels (tiny-small-vocab, ce + z-loss)", () => {
  expectFixtureGradients(k);
});

const built = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../../dist/train/wasm/train_kernels.js");
test.skipIf(!fs.existsSync(built))("2 threads give bit-identical gradients to 1 thread (built kernels)", async () => {
  const mod = await import(built) as typeof import("../../src/train/wasm/train_kernels.js");
  const fx = loadTrainFixture("tiny-small-vocab");
  const grads: Float32Array[] = [];
  for (const threads of [1, 2]) {
    const kk = await mod.createWasmTrainKernels(threads);
    expect(kk.threads).toBe(threads);
    const m = new TrainableOpenELM(fx.ck.config, kk);
    loadParams(m.layout, m.params, fx.ck.tensors, "model.safetensors");
    m.zeroGrad();
    m.forward(fx.ids, fx.targets, fx.B, fx.T, 1e-4);
    m.backward();
    grads.push(m.grads.slice());
    kk.dispose();
  }
  expect(Buffer.from(grads[1].buffer).equals(Buffer.from(grads[0].buffer))).toBe(true);
});
