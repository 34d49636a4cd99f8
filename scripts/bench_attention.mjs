// The attention op alone at OpenELM-270M's shapes (head_dim 64; 12/3, 16/4 and 20/5 query/KV heads): a
// prefill of T tokens on an empty cache and a decode step (T = 1) after the same number of cached positions,
// on the wasm backend; min time over many runs (robust to other load) and the multiply-adds a second it
// implies (QK and PV, causal). Each case is first checked against the reference backend. Uses the build
// (npm run build first):
//   node scripts/bench_attention.mjs [--tokens 512] [--runs 20] [--threads 1] [--no-relaxed] [--cpu] [--vs DIR]
// --cpu (threads 1 only): time by the process's CPU time instead of the wall clock, so time the scheduler
// gives other processes on a loaded machine does not count (cache contention still does).
// --vs: another build's dist/ directory (an older commit's kernels): each case runs on both builds in the
// same process, runs alternating, so other load hits both alike; printed as "before" beside this build.
import { parseArgs } from "node:util";
import * as path from "node:path";
import { pathToFileURL } from "node:url";

const { values: a } = parseArgs({ options: {
  tokens: { type: "string", default: "512" }, runs: { type: "string", default: "20" },
  threads: { type: "string", default: "1" }, "no-relaxed": { type: "boolean", default: false },
  cpu: { type: "boolean", default: false }, vs: { type: "string" },
} });
const dist = (dir, p) => import(pathToFileURL(path.join(dir, p)).href);
const here = new URL("../dist", import.meta.url).pathname;
const { createRefBackend } = await dist(here, "kernels/ref/index.js");

const HEADS = [[12, 3], [16, 4], [20, 5]], hd = 64;
const threads = Number(a.threads), runs = Number(a.runs), N = Number(a.tokens);
if (a.cpu && threads !== 1) { console.error("bench_attention: --cpu needs --threads 1 (the workers' time is not the process's until they finish)"); process.exit(2); }
const now = a.cpu ? () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; } : () => performance.now();
if (!(N >= 1 && Number.isInteger(N))) { console.error(`bench_attention: --tokens must be a positive integer, got "${a.tokens}"`); process.exit(2); }

function randn(n, seed) {
  const out = new Float32Array(n);
  let x = seed | 1;
  for (let i = 0; i < n; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; out[i] = ((x >>> 0) / 2 ** 32 - 0.5) * 3; }
  return out;
}

const builds = [];
for (const dir of a.vs ? [here, a.vs] : [here]) {
  const { createWasmBackend } = await dist(dir, "kernels/wasm/index.js");
  builds.push(await createWasmBackend({ threads, relaxed: a["no-relaxed"] ? false : "auto" }));
}
const ref = createRefBackend();
console.log(`wasm backend ${builds[0].name}, ${threads} thread(s), min of ${runs} runs${a.cpu ? " (CPU time)" : ""}${a.vs ? `; before: ${a.vs}` : ""}`);
console.log(a.vs ? "| case | heads (q/kv) | T | cached | ms | G mul-add/s | before: ms | G mul-add/s |\n|---|---|---:|---:|---:|---:|---:|---:|"
  : "| case | heads (q/kv) | T | cached | ms | G mul-add/s |\n|---|---|---:|---:|---:|---:|");
for (const [label, T, pos0, caseRuns] of [["prefill", N, 0, runs], ["decode", 1, N, runs * 20]]) {
  for (const [nQ, nKV] of HEADS) {
    const S = pos0 + T, qStride = (nQ + 2 * nKV) * hd;
    const qv = randn(T * qStride, nQ + T), kv = randn(S * nKV * hd, 7 + S), vv = randn(S * nKV * hd, 9 + S);
    const want = new Float32Array(T * nQ * hd);
    ref.attention(want, qv, qStride, kv, vv, T, pos0, nQ, nKV, hd);
    const cases = builds.map((be) => {
      const q = be.alloc(qv.length), k = be.alloc(kv.length), v = be.alloc(vv.length), out = be.alloc(want.length);
      q.set(qv); k.set(kv); v.set(vv);
      be.attention(out, q, qStride, k, v, T, pos0, nQ, nKV, hd);
      let err = 0;
      for (let i = 0; i < want.length; i++) err = Math.max(err, Math.abs(out[i] - want[i]));
      if (!(err <= 1e-4)) throw new Error(`${label} ${nQ}/${nKV}: max error ${err} against the reference`);
      return { run: () => be.attention(out, q, qStride, k, v, T, pos0, nQ, nKV, hd), best: Infinity };
    });
    for (let r = 0; r < caseRuns; r++) {
      for (const c of cases) {
        const t0 = now();
        c.run();
        c.best = Math.min(c.best, now() - t0);
      }
    }
    let keys = 0; // keys each query sees, summed over the tokens
    for (let t = 0; t < T; t++) keys += pos0 + t + 1;
    const macs = 2 * keys * nQ * hd;
    const cols = (ms) => `${ms.toFixed(3)} | ${(macs / ms / 1e6).toFixed(2)}`;
    console.log(`| ${label} | ${nQ}/${nKV} | ${T} | ${pos0} | ${cases.map((c) => cols(c.best)).join(" | ")} |`);
  }
}
for (const be of builds) be.dispose();
