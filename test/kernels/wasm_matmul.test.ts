// wasm matmul (matvec for T = 1, tiled matmul for T > 1) against the reference backend, every weight dtype,
// odd shapes, threads 1 and 2, plain and relaxed SIMD. Float weights: only the summation order differs, so
// the bound is 1e-5 · Σ|x·w|. Quantized weights: the wasm kernels also quantize x to int8 blocks (scale
// amax/127 per 32 inputs, per 256 for K-quants; round to nearest), which moves each x by at most amax/254:
// that term is added to the bound.

import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { Backend } from "../../src/kernels/backend.js";
import { createRefBackend } from "../../src/kernels/ref/index.js";
import { refMatrix, widenRow } from "../../src/kernels/ref/matrix.js";
import { isQuantized, QUANT_BLOCKS, type DType } from "../../src/tensor/tensor.js";
import { WASM_CONFIGS, createAll, put, randn, storeAs, worst } from "./wasm_cases.js";

const ref = createRefBackend();
let backends: Backend[] = [];
beforeAll(async () => { backends = await createAll(); });
afterAll(() => { for (const b of backends) b.dispose?.(); });

const ODD = [1, 7, 33, 1279];
const TS = [1, 3, 17];

function check(dtype: DType, N: number, K: number, T: number, xScale: number, seed: number, zeroX = false, raw?: Uint8Array, wScale = 0.5): void {
  const wv = randn(N * K, seed, wScale);
  if (isQuantized(dtype)) wv.fill(0, 0, Math.min(QUANT_BLOCKS[dtype][0], K)); // an all-zero block (scale 0)
  const st = raw ? { name: "w", dtype, shape: [N, K], data: raw } : storeAs(dtype, wv, N, K);
  const x = zeroX ? new Float32Array(T * K) : randn(T * K, seed + 1, xScale);
  const want = new Float32Array(T * N);
  ref.matmul(want, x, ref.loadMatrix(st, N, K), T);

  // The bound needs the weights as stored (widened), |x·w| sums and the activation quantization step.
  const wm = refMatrix(dtype, N, K, st.data), row = new Float32Array(K);
  const absDot = new Float32Array(T * N), quantErr = new Float32Array(T * N);
  const quant = isQuantized(dtype);
  for (let n = 0; n < N; n++) {
    widenRow(wm, n, row);
    for (let t = 0; t < T; t++) {
      let s = 0, q = 0;
      const ab = dtype === "q4_k" || dtype === "q5_k" || dtype === "q6_k" ? 256 : 32; // activation block (one int8 scale)
      for (let b = 0; b < K; b += ab) {
        let amax = 0, wsum = 0;
        for (let k = b; k < Math.min(K, b + ab); k++) {
          s += Math.abs(x[t * K + k] * row[k]);
          amax = Math.max(amax, Math.abs(x[t * K + k]));
          wsum += Math.abs(row[k]);
        }
        q += (amax / 254) * wsum;
      }
      absDot[t * N + n] = s;
      quantErr[t * N + n] = quant ? q * 1.001 : 0;
    }
  }
  backends.forEach((be, i) => {
    const out = be.alloc(T * N);
    out.fill(NaN); // every element must be written
    be.matmul(out, put(be, x), be.loadMatrix(st, N, K), T);
    const { ratio, at } = worst(out, want, (j) => 1e-5 * absDot[j] + quantErr[j] + 1e-30);
    expect(ratio, `${WASM_CONFIGS[i].label} ${dtype} N=${N} K=${K} T=${T}: out[${at}] = ${out[at]}, ref ${want[at]}`).toBeLessThanOrEqual(1);
  });
}

for (const dtype of ["f32", "bf16", "f16"] as DType[]) {
  describe(`wasm matmul ${dtype}`, () => {
    for (const N of ODD) for (const K of ODD) {
      test(`N=${N} K=${K}, T = ${TS.join(", ")}`, () => {
        for (const T of TS) check(dtype, N, K, T, 1, N * 7919 + K * 31 + T);
      });
    }
    test("zero activations give exact zeros; large activations (1e4) stay within the bound", () => {
      check(dtype, 33, 1279, 3, 1, 5, true);
      check(dtype, 1279, 33, 17, 1e4, 6);
    });
    test("T = 0 writes nothing", () => {
      const st = storeAs(dtype, randn(33 * 64, 4, 0.05), 33, 64);
      for (const be of backends) {
        const out = be.alloc(66).fill(7);
        be.matmul(out, be.alloc(128), be.loadMatrix(st, 33, 64), 0);
        expect(out.every((v) => v === 7)).toBe(true);
      }
    });
    // Loading stages ≈ 4 MiB of rows at a time: 1279 × 1279 f32 in slices of 816 rows (whole 4-row quads), and
    // rows of 1.2 MiB in slices of 3, a row at a time.
    if (dtype === "f32") test("rows staged in slices of 816 and of 3 (K = 300001), T = 1, 2, 5", () => {
      check(dtype, 1279, 1279, 2, 1, 7);
      for (const T of [1, 2, 5]) check(dtype, 11, 300001, T, 1, 8 + T);
    });
  });
}

for (const dtype of ["q8_0", "q4_0"] as DType[]) {
  describe(`wasm matmul ${dtype}`, () => {
    for (const N of ODD) for (const K of [32, 224, 1056]) {
      test(`N=${N} K=${K} (${K / 32} blocks), T = ${TS.join(", ")}`, () => {
        for (const T of TS) check(dtype, N, K, T, 1, N * 7919 + K * 31 + T);
      });
    }
    test("zero activations (scale 0 blocks) give exact zeros; large activations (1e4) stay within the bound", () => {
      check(dtype, 33, 1056, 3, 1, 5, true);
      check(dtype, 1279, 224, 17, 1e4, 6);
    });
    // Decode takes 16 rows at a time (a quad of groups stored block by block), then 8, then single groups:
    // row counts around those tiles, in one chunk and split over threads (1279 × 224 is above the serial limit).
    test("rows 15, 16, 17, 24, 61 and 1279 (decode tiles of 16 and 8 rows, a padded last group), T = 1, 2", () => {
      for (const N of [15, 16, 17, 24, 61]) for (const T of [1, 2]) check(dtype, N, 224, T, 1, N + T);
      check(dtype, 1279, 224, 1, 1, 9);
    });
    // q8_0 keeps f16 scales, stored times 2^10 unless one is ≥ 64 (then as they are): tiny weights (scales
    // that are subnormal halves) and large ones (the unshifted layout), decode tiles and packed tiles.
    test("weights 1e-6 (subnormal f16 scales) and 1e4 (scales ≥ 64)", () => {
      for (const wScale of [1e-6, 1e4]) for (const T of [1, 5]) check(dtype, 37, 224, T, 1, 9, false, undefined, wScale);
    });
  });
}

// K-quants (256-weight super-blocks) and the 5-bit 32-blocks llama-quantize uses in their place on other widths.
for (const [dtype, Ks] of [["q4_k", [256, 768]], ["q5_k", [256, 768]], ["q6_k", [256, 768]], ["q5_0", [32, 224]], ["q5_1", [32, 224]]] as const) {
  describe(`wasm matmul ${dtype}`, () => {
    for (const N of [1, 7, 33]) for (const K of Ks) {
      test(`N=${N} K=${K}, T = ${TS.join(", ")}`, () => {
        for (const T of TS) check(dtype, N, K, T, 1, N * 7919 + K * 31 + T);
      });
    }
    test("zero activations give exact zeros; large activations (1e4) stay within the bound", () => {
      check(dtype, 33, Ks[1], 3, 1, 5, true);
      check(dtype, 65, Ks[1], 17, 1e4, 6);
    });
    // K-quants decode 16 rows (a quad of 4-row groups) at a time, then single groups, the last one padded: row counts
    // around those tiles, in one chunk (small) and split over threads (1279 × 256 is above the serial limit).
    if (dtype.endsWith("_k")) test("rows 15, 16, 17, 61 and 1279 (decode tiles of 16 rows, a padded last group), T = 1, 2", () => {
      for (const N of [15, 16, 17, 61]) for (const T of [1, 2]) check(dtype, N, Ks[1], T, 1, N + T);
      check(dtype, 1279, Ks[0], 1, 1, 9);
    });
    // q4_K / q5_K keep f16 d and dmin, stored times 2^10 unless one is ≥ 64 (then as they are): weights 1e-4 (d and
    // dmin subnormal halves) and 1e5 (≥ 64: the unshifted layout), decode tiles and packed tiles; q6_K alike.
    if (dtype.endsWith("_k")) test("weights 1e-4 (subnormal f16 d and dmin) and 1e5 (d ≥ 64)", () => {
      for (const wScale of [1e-4, 1e5]) for (const T of [1, 2, 5]) check(dtype, 37, Ks[1], T, 1, 9, false, undefined, wScale);
    });
    // Random bytes as ggml blocks (f16 scales kept small): every quant bit pattern, every 6-bit level in every
    // position of the repacked q6_K vectors (the fourth level vector of a sub-block lives in the others' top
    // bits), negative sub-block scales, mins above the scaled quants.
    if (dtype.endsWith("_k")) test("random ggml bytes: every level and bit pattern, negative scales; rows 17 and 33, T = 1, 3, 7 (one, two and four tokens a pass)", () => {
      const [bb, scaleOffsets] = dtype === "q6_k" ? [210, [208]] : dtype === "q5_k" ? [176, [0, 2]] : [144, [0, 2]];
      for (const N of [17, 33]) {
        const raw = new Uint8Array((N * Ks[1] / 256) * bb);
        let x = N * 7 + 1;
        for (let i = 0; i < raw.length; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; raw[i] = x; }
        for (let b = 0; b < raw.length; b += bb) for (const o of scaleOffsets) { raw[b + o] = raw[b + o] & 0x3f; raw[b + o + 1] = 0x20 | (raw[b + o + 1] & 0x80); } // ±2^-7 · (1 + m)
        for (const T of [1, 3, 7]) check(dtype, N, Ks[1], T, 1, N + T, false, raw);
      }
    });
  });
}
