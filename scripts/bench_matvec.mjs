// One decode matvec (T = 1, activation quantization included) of each weight type at OpenELM-270M's
// shapes (layer 8: qkv, out, proj_1, proj_2; the 32000 × 1280 head), on the wasm backend; min time over many
// runs (robust to other load), the weight bytes a second it implies and ns a weight. Each case is first
// checked against the reference backend. Weights are random ggml blocks with small f16 scales, or random
// f32 / bf16 / f16 values in ±[2^-8, 2^-6) (speed does not depend on the values). Uses the build (npm run build first):
//   node scripts/bench_matvec.mjs [--types q4_0,q4_k,f32,bf16,...] [--shapes qkv,head] [--runs 200] [--threads 1] [--no-relaxed] [--vs DIR] [--stream MiB] [--tokens T]
// --vs: another build's dist/ directory (an older commit's kernels): each case runs on both builds in the
// same process, runs alternating, so other load hits both alike; printed as "before" beside this build.
// --stream: load copies of each matrix until they pass MiB (past the last-level cache: 260 MiB L3 here) and call
// them in turn, so every weight comes from DRAM as in a model's decode; a run is one call, on the next copy.
// --tokens T: T activation rows a call (a batched decode step, or a prefill's matmul); ns / weight is then per
// token, and the weights GB/s counts each weight once a call.
import { parseArgs } from "node:util";
import * as path from "node:path";
import { pathToFileURL } from "node:url";

const { values: a } = parseArgs({ options: {
  types: { type: "string", default: "q8_0,q4_0,q4_k,q5_k,q6_k" }, shapes: { type: "string" }, runs: { type: "string", default: "200" },
  threads: { type: "string", default: "1" }, "no-relaxed": { type: "boolean", default: false },
  vs: { type: "string" }, stream: { type: "string" }, tokens: { type: "string", default: "1" },
} });
const T = Number(a.tokens);
if (!(Number.isInteger(T) && T >= 1)) { console.error(`bench_matvec: --tokens ${a.tokens}: expected an integer ≥ 1`); process.exit(2); }
const dist = (dir, p) => import(pathToFileURL(path.join(dir, p)).href);
const here = new URL("../dist", import.meta.url).pathname;
const { createRefBackend } = await dist(here, "kernels/ref/index.js");
const { bytesFor } = await dist(here, "tensor/tensor.js");

// ggml block bytes and the byte offsets of the f16 scales in a block.
const BLOCKS = { q8_0: [34, [0]], q4_0: [18, [0]], q4_k: [144, [0, 2]], q5_k: [176, [0, 2]], q6_k: [210, [208]] };
const SHAPES = [["qkv", 1536, 1280], ["out", 1280, 1024], ["proj_1", 6144, 1280], ["proj_2", 1280, 3072], ["head", 32000, 1280]];

function randomBlocks(dtype, n, seed) {
  if (dtype === "f32") { // the bf16 values widened
    const h = new Uint16Array(randomBlocks("bf16", n, seed).buffer), u = new Uint32Array(n);
    for (let i = 0; i < n; i++) u[i] = h[i] << 16;
    return new Uint8Array(u.buffer);
  }
  if (dtype === "bf16" || dtype === "f16") { // random sign and mantissa, exponent 2^-8 … 2^-7
    const h = new Uint16Array(n);
    let x = seed | 1;
    for (let i = 0; i < n; i++) {
      x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
      h[i] = dtype === "bf16" ? (x & 0x807f) | ((119 + (x >>> 16 & 1)) << 7) : (x & 0x83ff) | ((7 + (x >>> 16 & 1)) << 10);
    }
    return new Uint8Array(h.buffer);
  }
  const [bb, scales] = BLOCKS[dtype];
  const out = new Uint8Array(bytesFor(dtype, n));
  let x = seed | 1;
  for (let i = 0; i < out.length; i += 4) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    out[i] = x; out[i + 1] = x >> 8; out[i + 2] = x >> 16; out[i + 3] = x >> 24;
  }
  for (let b = 0; b < out.length; b += bb) for (const o of scales) { out[b + o] = 0; out[b + o + 1] = 0x20 | (out[b + o + 1] & 0x80); } // ±2^-7
  return out;
}

const threads = Number(a.threads), runs = Number(a.runs);
// One backend a build; with --stream a fresh pair a case (the arena frees nothing before it is disposed).
async function createBuilds() {
  const bs = [];
  for (const dir of a.vs ? [here, a.vs] : [here]) {
    const { createWasmBackend } = await dist(dir, "kernels/wasm/index.js");
    bs.push(await createWasmBackend({ threads, relaxed: a["no-relaxed"] ? false : "auto" }));
  }
  return bs;
}
let builds = await createBuilds();
const ref = createRefBackend();
console.log(`wasm backend ${builds[0].name}, ${threads} thread(s), ${T} token(s) a call, min of ${runs} runs${a.stream ? `, copies past ${a.stream} MiB called in turn (from DRAM)` : ""}${a.vs ? `; before: ${a.vs}` : ""}`);
console.log(a.vs ? "| type | matrix | N×K | ms | weights GB/s | ns / weight | before: ms | GB/s | ns / weight |\n|---|---|---|---:|---:|---:|---:|---:|---:|"
  : "| type | matrix | N×K | ms | weights GB/s | ns / weight |\n|---|---|---|---:|---:|---:|");
for (const dtype of a.types.split(",")) {
  if (!BLOCKS[dtype] && dtype !== "f32" && dtype !== "bf16" && dtype !== "f16") {
    console.error(`bench_matvec: unknown type "${dtype}" (expected one of ${[...Object.keys(BLOCKS), "f32", "bf16", "f16"].join(", ")})`);
    process.exit(2);
  }
  for (const [name, N, K] of SHAPES.filter(([s]) => !a.shapes || a.shapes.split(",").includes(s))) {
    const st = { name, dtype, shape: [N, K], data: randomBlocks(dtype, N * K, N * 31 + K) };
    const want = new Float32Array(T * N), xv = new Float32Array(T * K);
    for (let i = 0; i < T * K; i++) xv[i] = Math.sin(i * 0.37) * 2;
    ref.matmul(want, xv, ref.loadMatrix(st, N, K), T);
    if (a.stream && !builds.length) builds = await createBuilds();
    const copies = a.stream ? Math.max(2, Math.ceil((Number(a.stream) * 2 ** 20) / bytesFor(dtype, N * K))) : 1;
    const cases = builds.map((be) => {
      const ws = Array.from({ length: copies }, () => be.loadMatrix(st, N, K)), x = be.alloc(T * K), out = be.alloc(T * N);
      let next = 0;
      x.set(xv);
      be.matmul(out, x, ws[copies - 1], T);
      let err = 0, scale = 0;
      for (let i = 0; i < T * N; i++) { err = Math.max(err, Math.abs(out[i] - want[i])); scale = Math.max(scale, Math.abs(want[i])); }
      if (!(err <= 0.05 * scale)) throw new Error(`${dtype} ${name}: max error ${err} against the reference (scale ${scale})`);
      return { run: () => be.matmul(out, x, ws[next++ % copies], T), best: Infinity };
    });
    for (let r = 0; r < runs; r++) {
      for (const c of cases) {
        const t0 = performance.now();
        c.run();
        c.best = Math.min(c.best, performance.now() - t0);
      }
    }
    const bytes = bytesFor(dtype, N * K);
    const cols = (ms) => `${ms.toFixed(3)} | ${(bytes / ms / 1e6).toFixed(1)} | ${((ms * 1e6) / (N * K * T)).toFixed(3)}`;
    console.log(`| ${dtype} | ${name} | ${N}×${K} | ${cases.map((c) => cols(c.best)).join(" | ")} |`);
    if (a.stream) { for (const be of builds) be.dispose(); builds = []; }
  }
}
for (const be of builds) be.dispose();
