// The most a 128-bit WebAssembly SIMD loop can compute on this machine: the throughput of the instructions our
// kernels' inner loops are made of (f32x4 FMA, the i16 pair dot, the relaxed i8·i7 dot), each in a loop of
// 12 independent chains, on 1 thread and on N threads at once (whether the vCPUs add up), plus the clock from a
// dependent chain of scalar ops (1 cycle each on every x86 and ARM core). A prefill can go no faster than its
// multiply-adds divided by these rates; BENCHMARKS.md compares that ceiling with llama.cpp's measured speed.
//   node scripts/simd_peak.mjs [--threads 2] [--ms 400]
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import { parseArgs } from "node:util";
import * as v8 from "node:v8";
import asc from "assemblyscript/asc";
import { enableRelaxedSimd } from "../dist/kernels/wasm/relaxed_simd.js";

enableRelaxedSimd();
v8.setFlagsFromString("--no-liftoff");

// Each loop trip: 12 independent accumulators, one instruction of the kind under test each (and for the dots
// the add that accumulates them, as in the kernels). The operands change every trip so nothing is hoisted.
const SOURCE = `
export function fma(n: i32, s: f32): f32 {
  let a = f32x4.splat(s), b = f32x4.splat(s * 0.5);
  let c0 = a, c1 = b, c2 = a, c3 = b, c4 = a, c5 = b, c6 = a, c7 = b, c8 = a, c9 = b, c10 = a, c11 = b;
  for (let i = 0; i < n; i++) {
    c0 = f32x4.relaxed_madd(a, b, c0); c1 = f32x4.relaxed_madd(a, b, c1); c2 = f32x4.relaxed_madd(a, b, c2);
    c3 = f32x4.relaxed_madd(a, b, c3); c4 = f32x4.relaxed_madd(a, b, c4); c5 = f32x4.relaxed_madd(a, b, c5);
    c6 = f32x4.relaxed_madd(a, b, c6); c7 = f32x4.relaxed_madd(a, b, c7); c8 = f32x4.relaxed_madd(a, b, c8);
    c9 = f32x4.relaxed_madd(a, b, c9); c10 = f32x4.relaxed_madd(a, b, c10); c11 = f32x4.relaxed_madd(a, b, c11);
    a = f32x4.neg(a);
  }
  const t = f32x4.add(f32x4.add(f32x4.add(c0, c1), f32x4.add(c2, c3)), f32x4.add(f32x4.add(c4, c5), f32x4.add(c6, c7)));
  return f32x4.extract_lane(f32x4.add(t, f32x4.add(f32x4.add(c8, c9), f32x4.add(c10, c11))), 0);
}
export function dot16(n: i32, s: i32): i32 {
  let a = i16x8.splat(<i16>s), b = i16x8.splat(<i16>(s + 1));
  let c0 = i32x4.splat(0), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
  for (let i = 0; i < n; i++) {
    c0 = i32x4.add(c0, i32x4.dot_i16x8_s(a, b)); c1 = i32x4.add(c1, i32x4.dot_i16x8_s(a, b)); c2 = i32x4.add(c2, i32x4.dot_i16x8_s(a, b));
    c3 = i32x4.add(c3, i32x4.dot_i16x8_s(a, b)); c4 = i32x4.add(c4, i32x4.dot_i16x8_s(a, b)); c5 = i32x4.add(c5, i32x4.dot_i16x8_s(a, b));
    c6 = i32x4.add(c6, i32x4.dot_i16x8_s(a, b)); c7 = i32x4.add(c7, i32x4.dot_i16x8_s(a, b)); c8 = i32x4.add(c8, i32x4.dot_i16x8_s(a, b));
    c9 = i32x4.add(c9, i32x4.dot_i16x8_s(a, b)); c10 = i32x4.add(c10, i32x4.dot_i16x8_s(a, b)); c11 = i32x4.add(c11, i32x4.dot_i16x8_s(a, b));
    a = i16x8.add(a, b);
  }
  const t = i32x4.add(i32x4.add(i32x4.add(c0, c1), i32x4.add(c2, c3)), i32x4.add(i32x4.add(c4, c5), i32x4.add(c6, c7)));
  return i32x4.extract_lane(i32x4.add(t, i32x4.add(i32x4.add(c8, c9), i32x4.add(c10, c11))), 0);
}
export function dot8(n: i32, s: i32): i32 {
  let a = i8x16.splat(<i8>s), b = i8x16.splat(<i8>(s & 63));
  let c0 = i16x8.splat(0), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
  for (let i = 0; i < n; i++) {
    c0 = i16x8.add(c0, i16x8.relaxed_dot_i8x16_i7x16_s(a, b)); c1 = i16x8.add(c1, i16x8.relaxed_dot_i8x16_i7x16_s(a, b));
    c2 = i16x8.add(c2, i16x8.relaxed_dot_i8x16_i7x16_s(a, b)); c3 = i16x8.add(c3, i16x8.relaxed_dot_i8x16_i7x16_s(a, b));
    c4 = i16x8.add(c4, i16x8.relaxed_dot_i8x16_i7x16_s(a, b)); c5 = i16x8.add(c5, i16x8.relaxed_dot_i8x16_i7x16_s(a, b));
    c6 = i16x8.add(c6, i16x8.relaxed_dot_i8x16_i7x16_s(a, b)); c7 = i16x8.add(c7, i16x8.relaxed_dot_i8x16_i7x16_s(a, b));
    c8 = i16x8.add(c8, i16x8.relaxed_dot_i8x16_i7x16_s(a, b)); c9 = i16x8.add(c9, i16x8.relaxed_dot_i8x16_i7x16_s(a, b));
    c10 = i16x8.add(c10, i16x8.relaxed_dot_i8x16_i7x16_s(a, b)); c11 = i16x8.add(c11, i16x8.relaxed_dot_i8x16_i7x16_s(a, b));
    a = i8x16.add(a, b);
  }
  const t = i16x8.add(i16x8.add(i16x8.add(c0, c1), i16x8.add(c2, c3)), i16x8.add(i16x8.add(c4, c5), i16x8.add(c6, c7)));
  return i16x8.extract_lane_s(i16x8.add(t, i16x8.add(i16x8.add(c8, c9), i16x8.add(c10, c11))), 0);
}
export function clock(n: i32, y: i32, z: i32): i32 {
  let x = y;
  for (let i = 0; i < n; i++) { x = (x + y) ^ z; x = (x + y) ^ z; x = (x + y) ^ z; x = (x + y) ^ z; }
  return x;
}
`;
// Per loop trip: instructions under test, and multiply-adds each does.
const KINDS = {
  fma: { what: "f32x4.relaxed_madd (vfmadd231ps xmm)", per: 12, macs: 4 },
  dot16: { what: "i32x4.dot_i16x8_s + i32x4.add (vpmaddwd)", per: 12, macs: 8 },
  dot8: { what: "i16x8.relaxed_dot_i8x16_i7x16_s + i16x8.add (vpmaddubsw)", per: 12, macs: 16 },
};

async function compile() {
  const { binary, stderr, error } = await asc.compileString(SOURCE, { optimizeLevel: 3, runtime: "stub", enable: ["simd", "relaxed-simd"] });
  if (error) throw new Error(`simd_peak: the probe did not compile: ${error.message}\n${stderr}`);
  return binary;
}

/** Best rate of f (trips a second) over repeated timed runs of about ms milliseconds each. */
function rate(f, ms) {
  let n = 1 << 16;
  for (;;) { const t0 = performance.now(); f(n); const dt = performance.now() - t0; if (dt > ms / 4) break; n *= 2; }
  let best = 0;
  for (let r = 0; r < 5; r++) { const t0 = performance.now(); f(n); best = Math.max(best, n / ((performance.now() - t0) / 1e3)); }
  return best;
}

if (!isMainThread) {
  const { binary, kind, ms, barrier } = workerData;
  const ex = new WebAssembly.Instance(new WebAssembly.Module(binary)).exports;
  const f = kind === "clock" ? (n) => ex.clock(n, 3, 5) : (n) => ex[kind](n, 3);
  f(1 << 12);
  const flag = new Int32Array(barrier);
  Atomics.add(flag, 0, 1); Atomics.notify(flag, 0);
  while (Atomics.load(flag, 1) === 0) Atomics.wait(flag, 1, 0, 1); // start together
  parentPort.postMessage(rate(f, ms));
} else {
  const { values: a } = parseArgs({ options: { threads: { type: "string", default: "2" }, ms: { type: "string", default: "400" } } });
  const threads = Number(a.threads), ms = Number(a.ms);
  const binary = await compile();
  async function run(kind, n) {
    const barrier = new SharedArrayBuffer(8), flag = new Int32Array(barrier);
    const ws = Array.from({ length: n }, () => new Worker(new URL(import.meta.url), { workerData: { binary, kind, ms, barrier } }));
    while (Atomics.load(flag, 0) < n) await new Promise((r) => setTimeout(r, 5));
    Atomics.store(flag, 1, 1); Atomics.notify(flag, 1);
    const rates = await Promise.all(ws.map((w) => new Promise((r) => w.once("message", r))));
    await Promise.all(ws.map((w) => w.terminate()));
    return rates;
  }
  const [clk] = await run("clock", 1);
  const ghz = clk * 8 / 1e9; // 8 dependent single-cycle ops a trip
  console.log(`clock (dependent scalar add/xor chain, 1 cycle each): ${ghz.toFixed(2)} GHz`);
  console.log(`| instruction | per cycle (1 thread) | G multiply-adds/s, 1 thread | ${threads} threads at once | × 1 thread |`);
  console.log("|---|---:|---:|---:|---:|");
  for (const [kind, k] of Object.entries(KINDS)) {
    const [one] = await run(kind, 1);
    const many = (await run(kind, threads)).reduce((s, r) => s + r, 0);
    const g1 = one * k.per * k.macs / 1e9, gn = many * k.per * k.macs / 1e9;
    console.log(`| ${k.what} | ${(one * k.per / (ghz * 1e9)).toFixed(2)} | ${g1.toFixed(1)} | ${gn.toFixed(1)} | ${(gn / g1).toFixed(2)} |`);
  }
}
