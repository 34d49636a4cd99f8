// wasm embed, rmsnorm, qkNormRope, attention, swiglu, addInPlace against the reference backend, on odd
// shapes and edge values (zeros, large magnitudes that overflow a naive softmax or exp), threads 1 and 2;
// argmax against generate/sampler.ts's.

import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { Backend } from "../../src/kernels/backend.js";
import { createRefBackend } from "../../src/kernels/ref/index.js";
import type { DType } from "../../src/tensor/tensor.js";
import { WASM_CONFIGS, createAll, put, randn, storeAs, worst } from "./wasm_cases.js";
import { argmax } from "../../src/generate/sampler.js";

const ref = createRefBackend();
let backends: Backend[] = [];
beforeAll(async () => { backends = await createAll(); });
afterAll(() => { for (const b of backends) b.dispose?.(); });

/** |got - want| ≤ abs + rel·|want| everywhere, and no NaN. */
function expectClose(got: Float32Array, want: Float32Array, abs: number, rel: number, what: string): void {
  const { ratio, at } = worst(got, want, (i) => abs + rel * Math.abs(want[i]));
  expect(ratio, `${what}: [${at}] = ${got[at]}, ref ${want[at]}`).toBeLessThanOrEqual(1);
}

function each(f: (be: Backend, label: string) => void): void {
  backends.forEach((be, i) => f(be, WASM_CONFIGS[i].label));
}

describe("wasm embed", () => {
  // K-quants are repacked into 4-row groups: ids in every lane of a group, and in the zero-padded last group.
  for (const dtype of ["f32", "bf16", "f16", "q8_0", "q4_0", "q4_k", "q5_k", "q6_k"] as DType[]) {
    test(`${dtype}: rows widened exactly as the reference does`, () => {
      const V = 33, D = dtype.endsWith("_k") ? 512 : dtype.startsWith("q") ? 224 : 1279;
      const st = storeAs(dtype, randn(V * D, 11, 2), V, D);
      const ids = [0, 32, 7, 7, 1, 2, 30];
      const want = new Float32Array(ids.length * D);
      ref.embed(want, ref.loadMatrix(st, V, D), ids);
      each((be, label) => {
        const out = be.alloc(ids.length * D);
        be.embed(out, be.loadMatrix(st, V, D), ids);
        expectClose(out, want, 0, 0, `${label} ${dtype}`);
      });
    });
  }
  test("q8_0 / q4_0 / K-quant rows of tiny (subnormal f16 scales) and large weights (scales ≥ 64) widened exactly", () => {
    for (const [dtype, scales] of [["q8_0", [1e-6, 1e4]], ["q4_0", [1e-6, 1e4]], ["q4_k", [1e-4, 1e5]], ["q5_k", [1e-4, 1e5]], ["q6_k", [1e-4, 1e5]]] as [DType, number[]][]) for (const scale of scales) {
      const D = dtype.endsWith("_k") ? 256 : 224;
      const st = storeAs(dtype, randn(33 * D, 12, scale), 33, D);
      const ids = [0, 5, 32];
      const want = new Float32Array(ids.length * D);
      ref.embed(want, ref.loadMatrix(st, 33, D), ids);
      each((be, label) => {
        const out = be.alloc(ids.length * D);
        be.embed(out, be.loadMatrix(st, 33, D), ids);
        expectClose(out, want, 0, 0, `${label} ${dtype} weights ${scale}`);
      });
    }
  });
  test("an id outside the table throws", () => {
    const st = storeAs("f32", randn(7 * 3, 1), 7, 3);
    const be = backends[0];
    expect(() => be.embed(be.alloc(3), be.loadMatrix(st, 7, 3), [7])).toThrow("embed: token id 7 at position 0 is outside 0 … 6");
  });
});

describe("wasm rmsnorm", () => {
  for (const dim of [1, 7, 33, 1279]) {
    test(`dim=${dim}, rows 1, 3, 17, in place and out of place`, () => {
      for (const rows of [1, 3, 17]) {
        const x = randn(rows * dim, dim + rows, 3), w = randn(dim, 5 + dim);
        x.fill(0, 0, dim); // a zero row: eps keeps it finite (0)
        if (rows > 1) for (let i = dim; i < 2 * dim; i++) x[i] *= 1e15; // large, squares still finite in f32
        const want = new Float32Array(rows * dim);
        ref.rmsnorm(want, x, w, rows, dim, 1e-6);
        each((be, label) => {
          const bx = put(be, x), bw = put(be, w), out = be.alloc(rows * dim);
          be.rmsnorm(out, bx, bw, rows, dim, 1e-6);
          expectClose(out, want, 1e-6, 1e-5, `${label} rows=${rows}`);
          be.rmsnorm(bx, bx, bw, rows, dim, 1e-6);
          expectClose(bx, want, 1e-6, 1e-5, `${label} rows=${rows} in place`);
        });
      }
    });
  }
});

describe("wasm qkNormRope", () => {
  const shapes = [
    { nQ: 4, nKV: 2, hd: 16 }, { nQ: 3, nKV: 1, hd: 20 }, { nQ: 12, nKV: 3, hd: 64 }, { nQ: 1, nKV: 1, hd: 2 },
  ];
  for (const { nQ, nKV, hd } of shapes) {
    test(`nQ=${nQ} nKV=${nKV} hd=${hd}, T 1, 3, 17, positions from 0 and 1000`, () => {
      for (const T of [1, 3, 17]) for (const pos0 of [0, 1000]) {
        const n = T * (nQ + 2 * nKV) * hd;
        const qkv = randn(n, T + hd + pos0, 4), qn = randn(hd, 3), kn = randn(hd, 4);
        const want = qkv.slice();
        ref.qkNormRope(want, T, nQ, nKV, hd, qn, kn, 1e-6, pos0, 10000);
        each((be, label) => {
          const b = put(be, qkv);
          be.qkNormRope(b, T, nQ, nKV, hd, put(be, qn), put(be, kn), 1e-6, pos0, 10000);
          expectClose(b, want, 2e-5, 2e-5, `${label} T=${T} pos0=${pos0}`);
        });
      }
    });
  }
});

/**
 * Attention of T queries after pos0 cached positions (q rows padded by qPad floats, like the fused qkv) on every
 * backend against the reference; seeds for q, k, v. Scores of ~1e4 (scale 100) make the softmax nearly one-hot,
 * where f32 rounding moves weights by ~1e-3 relative.
 */
function checkAttention(nQ: number, nKV: number, hd: number, T: number, pos0: number, scale: number, qPad: number, seeds: number[]): void {
  const S = pos0 + T, qStride = (nQ + 2 * nKV) * hd + qPad;
  const q = randn(T * qStride, seeds[0], scale), k = randn(S * nKV * hd, seeds[1], scale), v = randn(S * nKV * hd, seeds[2]);
  const want = new Float32Array(T * nQ * hd);
  ref.attention(want, q, qStride, k, v, T, pos0, nQ, nKV, hd);
  each((be, label) => {
    const out = be.alloc(T * nQ * hd);
    be.attention(out, put(be, q), qStride, put(be, k), put(be, v), T, pos0, nQ, nKV, hd);
    expectClose(out, want, scale > 1 ? 2e-3 : 2e-5, 1e-4, `${label} T=${T} pos0=${pos0} scale=${scale}`);
  });
}

describe("wasm attention", () => {
  const shapes = [
    { nQ: 4, nKV: 2, hd: 16 }, { nQ: 3, nKV: 1, hd: 20 }, { nQ: 6, nKV: 6, hd: 7 }, { nQ: 12, nKV: 3, hd: 64 },
  ];
  for (const { nQ, nKV, hd } of shapes) {
    test(`nQ=${nQ} nKV=${nKV} hd=${hd}: T 1, 3, 17 after 0 and 33 cached positions; scores up to ~1e4`, () => {
      for (const T of [1, 3, 17]) for (const pos0 of [0, 33]) for (const scale of [1, 100])
        checkAttention(nQ, nKV, hd, T, pos0, scale, 5, [T + pos0, 2 + pos0 + T, 3 + pos0 + T]);
    });
  }
  // The kernel takes query heads in pairs sharing a KV head (a group's odd head alone), keys 4 at a time and
  // the output 16 floats a pass: groups of 5 and 1, head_dim with a 16-float pass and a 1–3 float tail,
  // key counts on both sides of a multiple of 4, a prefill continuing a cache, and decode steps.
  const tiles = [
    { nQ: 20, nKV: 4, hd: 80 }, { nQ: 5, nKV: 1, hd: 66 }, { nQ: 3, nKV: 3, hd: 36 }, { nQ: 20, nKV: 5, hd: 64 },
  ];
  for (const { nQ, nKV, hd } of tiles) {
    test(`head pairs, 4-key blocks, output passes: nQ=${nQ} nKV=${nKV} hd=${hd}, prefill 45 after 0 and 70, decode after 63 and 64`, () => {
      for (const [T, pos0] of [[45, 0], [45, 70], [1, 63], [1, 64]]) for (const scale of [1, 100])
        checkAttention(nQ, nKV, hd, T, pos0, scale, 3, [5 * T + pos0 + hd, 7 + pos0 + T + hd, 9 + pos0 + T]);
    });
  }
});

// One batched step's attention in one dispatch: segments of a decode row and prompt chunks, each with its own
// cache and positions (a cache longer than it holds, as the scheduler's slots are), against one attention() call
// a segment (bitwise: the same per-item code) and the reference.
describe("wasm attentionBatch", () => {
  for (const { nQ, nKV, hd } of [{ nQ: 12, nKV: 3, hd: 64 }, { nQ: 5, nKV: 1, hd: 66 }, { nQ: 6, nKV: 2, hd: 7 }]) {
    test(`nQ=${nQ} nKV=${nKV} hd=${hd}: decode rows after 0, 40 and 200 positions, chunks of 3 and 17`, () => {
      const segs = [{ T: 1, pos0: 200 }, { T: 17, pos0: 0 }, { T: 1, pos0: 0 }, { T: 3, pos0: 33 }, { T: 1, pos0: 40 }];
      const qStride = (nQ + 2 * nKV) * hd + 3, rows = segs.reduce((a, g) => a + g.T, 0), cap = 260;
      const q = randn(rows * qStride, 11 + hd, 3);
      const caches = segs.map((_, i) => ({ k: randn(cap * nKV * hd, 20 + i, 3), v: randn(cap * nKV * hd, 40 + i) }));
      let row = 0;
      const placed = segs.map((g) => { const r = row; row += g.T; return { ...g, row: r }; });
      const want = new Float32Array(rows * nQ * hd);
      for (const [i, g] of placed.entries())
        ref.attention(want.subarray(g.row * nQ * hd), q.subarray(g.row * qStride), qStride, caches[i].k, caches[i].v, g.T, g.pos0, nQ, nKV, hd);
      each((be, label) => {
        expect(be.attentionBatch, label).toBeTypeOf("function");
        const qb = put(be, q), ks = caches.map((c) => put(be, c.k)), vs = caches.map((c) => put(be, c.v));
        const got = be.alloc(rows * nQ * hd), one = be.alloc(rows * nQ * hd);
        be.attentionBatch!(got, qb, qStride, placed.map((g, i) => ({ row: g.row, T: g.T, pos0: g.pos0, kCache: ks[i], vCache: vs[i] })), nQ, nKV, hd);
        for (const [i, g] of placed.entries())
          be.attention(one.subarray(g.row * nQ * hd), qb.subarray(g.row * qStride), qStride, ks[i], vs[i], g.T, g.pos0, nQ, nKV, hd);
        expect(Array.from(got).findIndex((x, i) => !Object.is(x, one[i])), `${label}: first element unlike attention()'s`).toBe(-1);
        expectClose(got, want, 2e-5, 1e-4, label);
      });
    });
  }
  test("a segment past its cache is an error naming it", () => {
    each((be) => {
      const k = be.alloc(4 * 64), v = be.alloc(4 * 64);
      expect(() => be.attentionBatch!(be.alloc(64), be.alloc(3 * 64), 3 * 64, [{ row: 0, T: 1, pos0: 4, kCache: k, vCache: v }], 1, 1, 64))
        .toThrow(/attentionBatch segment 0 kCache/);
    });
  });
});

describe("wasm swiglu and addInPlace", () => {
  for (const F of [1, 7, 33, 1279]) {
    test(`swiglu F=${F}, T 1, 3, 17, gates up to ±1e4 (exp overflow) and zeros`, () => {
      for (const T of [1, 3, 17]) {
        const gu = randn(T * 2 * F, F + T, 8);
        gu[0] = -1e4; if (F > 1) gu[1] = 1e4; if (F > 2) gu[2] = 0; if (F > 3) gu[3] = -100;
        const want = new Float32Array(T * F);
        ref.swiglu(want, gu, T, F);
        each((be, label) => {
          const out = be.alloc(T * F);
          be.swiglu(out, put(be, gu), T, F);
          expectClose(out, want, 1e-6, 1e-5, `${label} T=${T}`);
        });
      }
    });
  }
  for (const n of [1, 7, 33, 1279, 200_003]) {
    test(`addInPlace n=${n}`, () => {
      const x = randn(n, n, 1e3), y = randn(n, n + 1);
      const want = x.slice();
      ref.addInPlace(want, y, n);
      each((be, label) => {
        const bx = put(be, x);
        be.addInPlace(bx, put(be, y), n);
        expectClose(bx, want, 0, 0, label);
      });
    });
  }
});

describe("wasm argmax", () => {
  test("the index sampler's argmax picks, on rows of every length mod 16 with ties, NaN, ±Infinity and ±0", () => {
    const rows: number[][] = [];
    for (const n of [1, 2, 3, 4, 5, 15, 16, 17, 31, 32, 33, 63, 64, 65, 32000]) {
      const x = Array.from(randn(n, n + 3, 10));
      rows.push(x);
      for (const at of [0, n >> 1, n - 1]) { // a maximum at the start, the middle, the end, alone and tied
        const y = x.slice(); y[at] = 50; rows.push(y.slice());
        y[n - 1 - (at >> 1)] = 50; rows.push(y.slice());
        y[at] = Infinity; rows.push(y.slice());
        const z = x.slice(); z[at] = NaN; rows.push(z.slice()); // NaN first: index 0; elsewhere never chosen
        z[n - 1] = NaN; z[Math.min(n - 1, 2)] = 50; rows.push(z);
      }
      rows.push(Array(n).fill(-Infinity), Array(n).fill(NaN), Array(n).fill(0).map((_, i) => (i % 3 ? -0 : 0)), Array(n).fill(-0).map((v, i) => (i === n - 1 ? 0 : v)));
    }
    each((be, label) => {
      for (const r of rows) {
        const x = put(be, r);
        expect(be.argmax!(x), `${label} n=${r.length} [${r.slice(0, 6).join(", ")} …]`).toBe(argmax(Float32Array.from(r)));
        if (r.length > 5) expect(be.argmax!(x.subarray(3)), `${label} a view at 3`).toBe(argmax(Float32Array.from(r.slice(3))));
      }
    });
  });
  test("a row outside the backend's memory is refused", () => {
    expect(() => backends[0].argmax!(new Float32Array(8))).toThrow("wasm backend: argmax x is not a buffer of this backend");
  });
});

describe("wasm buffers", () => {
  test("a buffer the backend did not allocate is refused", () => {
    const be = backends[1];
    expect(() => be.addInPlace(new Float32Array(4), be.alloc(4), 4))
      .toThrow("wasm backend: addInPlace x is not a buffer of this backend (allocate it with backend.alloc)");
  });
  test("views handed out before the memory grows stay valid", () => {
    const be = backends[1];
    const a = put(be, [1, 2, 3]);
    be.alloc(8 << 20); // 32 MiB: grows the memory
    const b = put(be, [10, 20, 30]);
    be.addInPlace(a, b, 3);
    expect(Array.from(a)).toEqual([11, 22, 33]);
  });
});
