// Single-thread microbenchmark of a batched decode step's matmul: T activation rows against one weight
// matrix of OpenELM-270M's shape, three ways: the small-batch matvec (each weight loaded once for all T
// rows), T separate matvecs (T = 1 calls), and the token-tiled prefill matmul. Min-of-N timing, so a loaded
// machine still compares the kernels fairly. Uses the build (npm run build first):
//   node scripts/bench_matvec_rows.mjs [dtypes, default q8_0,q4_0,f32,bf16] [rows, default 1,2,4,8,16] [reps, default 30]
import * as v8 from "node:v8";
import { createWasmBackend } from "../dist/kernels/wasm/index.js";
import { f32ToBf16, f32ToF16 } from "../dist/tensor/tensor.js";
import { quantize } from "../dist/kernels/quant.js";
import { enableRelaxedSimd } from "../dist/kernels/wasm/relaxed_simd.js";

enableRelaxedSimd();
// Optimized code from the start: V8 otherwise runs a kernel's first calls in its baseline compiler (several
// times slower) until the optimizing tier is ready, which would charge whichever variant runs first.
v8.setFlagsFromString("--no-liftoff");
const dtypes = (process.argv[2] ?? "q8_0,q4_0,f32,bf16").split(",");
const rowsList = (process.argv[3] ?? "1,2,4,8,16").split(",").map(Number);
const reps = Number(process.argv[4] ?? 30);
// OpenELM-270M layer 8: fused qkv, FFN in (gate | up) and out.
const SHAPES = [{ name: "qkv_proj", N: 1536, K: 1280 }, { name: "proj_1", N: 6144, K: 1280 }, { name: "proj_2", N: 1280, K: 3072 }];

function random(n, seed) {
  let x = seed | 1;
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; a[i] = ((x >>> 0) / 4294967296 - 0.5) * 0.1; }
  return a;
}
function store(dtype, v) {
  if (dtype === "f32") return new Uint8Array(v.buffer);
  if (dtype === "bf16" || dtype === "f16") return new Uint8Array(Uint16Array.from(v, dtype === "bf16" ? f32ToBf16 : f32ToF16).buffer);
  return quantize(dtype, v);
}
function minMs(f) {
  f();
  let best = Infinity;
  for (let i = 0; i < reps; i++) { const t0 = performance.now(); f(); best = Math.min(best, performance.now() - t0); }
  return best;
}

const be = await createWasmBackend({ threads: 1 });
console.log(`${be.name}, 1 thread, min of ${reps}; µs per call, and the ratio to T separate matvecs (> 1: faster)\n`);
console.log("| weights | shape | T | T matvecs µs | tiled matmul µs | small-batch matvec µs | matvec / T matvecs | matvec / tiled |");
console.log("|---|---|---:|---:|---:|---:|---:|---:|");
for (const dtype of dtypes) {
  for (const { name, N, K } of SHAPES) {
    const w = be.loadMatrix({ name, dtype, shape: [N, K], data: store(dtype, random(N * K, 7)) }, N, K);
    for (const T of rowsList) {
      const x = be.alloc(T * K); x.set(random(T * K, 11));
      const out = be.alloc(T * N);
      const sep = minMs(() => { for (let t = 0; t < T; t++) be.matmul(out.subarray(t * N), x.subarray(t * K), w, 1); });
      be.matvecRows = { min: 2, max: 1 };
      const tiled = minMs(() => be.matmul(out, x, w, T));
      be.matvecRows = { min: 2, max: 64 };
      const mv = T === 1 ? sep : minMs(() => be.matmul(out, x, w, T));
      console.log(`| ${dtype} | ${name} ${N}×${K} | ${T} | ${(sep * 1e3).toFixed(0)} | ${(tiled * 1e3).toFixed(0)} | ${(mv * 1e3).toFixed(0)} | ${(sep / mv).toFixed(2)} | ${(tiled / mv).toFixed(2)} |`);
    }
  }
}
be.dispose?.();
