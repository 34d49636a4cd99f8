// The training kernels of the wasm module (kernels/wasm/training.ts) against the plain-TS set
// (train/autograd): matmul in its three layouts on odd shapes, the transpose, the fused cross-entropy rows,
// the SwiGLU, RMSNorm and QK-norm + RoPE backward rules, the head split, and a whole fixture gradient.

import { describe, expect, test } from "vitest";
import type { TrainingKernels } from "../../src/kernels/backend.js";
import { createWasmBackend } from "../../src/kernels/wasm/index.js";
import { refTrainingKernels as ref } from "../../src/train/autograd/index.js";
import { TrainableOpenELM } from "../../src/train/openelm_train.js";
import { loadParams } from "../../src/train/parameters.js";
import { expectFixtureGradients, loadTrainFixture } from "./train_fixture.js";

const be = await createWasmBackend({ threads: 1 });
const k: TrainingKernels = be.training!;

function rand(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) { x = (Math.imul(x, 1664525) + 1013904223) >>> 0; a[i] = x / 2 ** 31 - 1; }
  return a;
}
const put = (a: Float32Array) => { const b = be.alloc(a.length); b.set(a); return b; };
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

describe("SIMD matmul kernels vs the TS kernels", () => {
  for (const [M, N, K] of [[1, 1, 1], [7, 13, 5], [4, 8, 16], [33, 17, 130], [64, 40, 300], [5, 1279, 9]]) {
    for (const acc of [false, true]) {
      test(`M ${M}, N ${N}, K ${K}${acc ? ", accumulate" : ""}`, () => {
        const A = rand(M * K, M + N), Bnt = rand(N * K, K), init = rand(M * N, 3);
        const want = init.slice(), wantNN = init.slice(), wantTN = init.slice();
        ref.abt(want, A, Bnt, M, N, K, acc);
        ref.nn(wantNN, A, transposed(Bnt, N, K), M, N, K, acc);
        ref.tn(wantTN, transposed(A, M, K), transposed(Bnt, N, K), M, N, K, acc);
        expectClose(wantNN, want, 1e-12); expectClose(wantTN, want, 1e-12); // the oracles agree
        const o1 = put(init), o2 = put(init), o3 = put(init);
        k.abt(o1, put(A), put(Bnt), M, N, K, acc);                     // A · Bᵀ
        k.nn(o2, put(A), put(transposed(Bnt, N, K)), M, N, K, acc);    // A · B with B = Bᵀ stored (K, N)
        k.tn(o3, put(transposed(A, M, K)), put(transposed(Bnt, N, K)), M, N, K, acc); // (Aᵀ)ᵀ · B
        expectClose(o1, want, 1e-5); expectClose(o2, want, 1e-5); expectClose(o3, want, 1e-5);
      });
    }
  }

  test("transpose of a column slice is exact", () => {
    const x = rand(37 * 50, 9), out = be.alloc(20 * 37);
    k.transpose(out, put(x), 37, 20, 50, 11);
    for (let c = 0; c < 20; c++) for (let r = 0; r < 37; r++) expect(out[c * 37 + r]).toBe(x[r * 50 + 11 + c]);
  });
});

describe("backward rules vs the TS rules", () => {
  test("SwiGLU backward (F = 13: SIMD body and scalar tail; gates up to ±100)", () => {
    const N = 5, F = 13;
    const gu = rand(N * 2 * F, 4).map((v, i) => (i === 3 ? 100 : i === 4 ? -100 : v * 6)), dout = rand(N * F, 8);
    const want = new Float32Array(N * 2 * F).fill(NaN), got = be.alloc(N * 2 * F).fill(NaN);
    ref.swigluBackward(want, dout, gu, N, F);
    k.swigluBackward(got, put(dout), put(gu), N, F);
    expectClose(got, want, 2e-6);
  });

  for (const acc of [false, true]) {
    test(`RMSNorm backward: dx${acc ? " accumulated" : ""} and dw (rows 7, dim 37)`, () => {
      const R = 7, D = 37;
      const x = rand(R * D, 1).map((v) => v * 3), w = rand(D, 2), dy = rand(R * D, 3), dx0 = rand(R * D, 4), dw0 = rand(D, 5);
      const dx = dx0.slice(), dw = dw0.slice(), gx = put(dx0), gw = put(dw0);
      ref.rmsnormBackward(dx, dw, dy, x, w, R, D, 1e-6, acc);
      k.rmsnormBackward(gx, gw, put(dy), put(x), put(w), R, D, 1e-6, acc);
      expectClose(gx, dx, 1e-6); expectClose(gw, dw, 1e-6);
    });
  }

  for (const qk of [true, false]) {
    test(`QK-norm + RoPE backward (B 2, T 5, nQ 3, nKV 1, hd 8${qk ? "" : ", no QK norm"})`, () => {
      const B = 2, T = 5, nQ = 3, nKV = 1, hd = 8, S = (nQ + 2 * nKV) * hd, N = B * T;
      const qkv = rand(N * S, 6).map((v) => v * 2), dy = rand(N * S, 7);
      const qw = qk ? rand(hd, 8) : null, kw = qk ? rand(hd, 9) : null;
      const want = new Float32Array(N * S).fill(NaN), dq = new Float32Array(hd).fill(0.5), dk = new Float32Array(hd).fill(-0.5);
      ref.qkNormRopeBackward(want, dq, dk, dy, qkv, qw, kw, N, T, nQ, nKV, hd, 1e-6, 10000);
      const got = be.alloc(N * S).fill(NaN), gq = put(new Float32Array(hd).fill(0.5)), gk = put(new Float32Array(hd).fill(-0.5));
      k.qkNormRopeBackward(got, gq, gk, put(dy), put(qkv), qw && put(qw), kw && put(kw), N, T, nQ, nKV, hd, 1e-6, 10000);
      expectClose(got, want, 1e-6); expectClose(gq, dq, 1e-6); expectClose(gk, dk, 1e-6);
    });
  }

  test("head split and merge are exact inverses of the TS ones", () => {
    const N = 6, T = 3, nQ = 4, nKV = 2, hd = 4, S = (nQ + 2 * nKV) * hd;
    const qkv = rand(N * S, 10);
    const q = new Float32Array(N * nQ * hd), kk = new Float32Array(N * nKV * hd), v = new Float32Array(N * nKV * hd);
    ref.splitHeads(qkv, q, kk, v, N, T, nQ, nKV, hd, false);
    const gq = be.alloc(q.length), gk = be.alloc(kk.length), gv = be.alloc(v.length);
    k.splitHeads(put(qkv), gq, gk, gv, N, T, nQ, nKV, hd, false);
    expect([gq, gk, gv].map((a) => Array.from(a))).toEqual([q, kk, v].map((a) => Array.from(a)));
    const back = be.alloc(N * S);
    k.splitHeads(back, gq, gk, gv, N, T, nQ, nKV, hd, true);
    expect(Array.from(back)).toEqual(Array.from(qkv));
  });

  test("fused cross-entropy rows vs the TS loss and gradient (ignored rows, z-loss)", () => {
    const N = 9, V = 1283;
    const logits = rand(N * V, 5).map((v) => v * 8);
    const targets = Int32Array.from([3, -100, 1282, 0, 77, -100, 5, 900, 11]);
    const lse = new Float32Array(N), tl = new Float32Array(N), want = logits.slice();
    ref.ceForward(lse, tl, want, targets, N, V);
    ref.ceBackward(want, lse, targets, N, V, 0.5 / 7, (0.5 * 1e-4 * 2) / 7);
    const L = put(logits), T = k.allocI32(N), lse2 = be.alloc(N), tl2 = be.alloc(N);
    T.set(targets);
    k.ceForward(lse2, tl2, L, T, N, V);
    for (let n = 0; n < N; n++) expect(Math.abs(lse2[n] - lse[n])).toBeLessThan(2e-6 * (1 + Math.abs(lse[n])));
    expect(Array.from(tl2)).toEqual(Array.from(tl));
    k.ceBackward(L, lse2, T, N, V, 0.5 / 7, (0.5 * 1e-4 * 2) / 7);
    let max = 0;
    for (let i = 0; i < want.length; i++) max = Math.max(max, Math.abs(L[i] - want[i]));
    expect(max).toBeLessThan(1e-7);
  });
});

test("fixture gradients through the SIMD kernels (tiny-small-vocab, ce + z-loss)", () => {
  expectFixtureGradients(be);
});

test("2 threads give bit-identical gradients to 1 thread", async () => {
  const fx = loadTrainFixture("tiny-small-vocab");
  const grads: Float32Array[] = [];
  for (const threads of [1, 2]) {
    const b = await createWasmBackend({ threads });
    expect(b.threads).toBe(threads);
    const m = new TrainableOpenELM(fx.ck.config, b);
    loadParams(m.layout, m.params, fx.ck.tensors, "model.safetensors");
    m.zeroGrad();
    m.forward(fx.ids, fx.targets, fx.B, fx.T, 1e-4);
    m.backward();
    grads.push(m.grads.slice());
    b.dispose();
  }
  expect(Buffer.from(grads[1].buffer).equals(Buffer.from(grads[0].buffer))).toBe(true);
});
