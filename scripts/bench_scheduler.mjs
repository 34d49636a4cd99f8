// The server's continuous batching without HTTP or the engine worker: BatchScheduler driven in this process by
// closed-loop clients (each sends its next request when the last one ends), as `openelm bench-serve` drives a
// server. Prints output tokens/s, then where the engine's time went: forwards grouped by what they held (decode
// steps of B sequences, or steps with prompt chunks) and, with --ops, every backend op inside the decode steps of
// the most common B. Uses the build (npm run build first):
//   node scripts/bench_scheduler.mjs -m model.gguf [-c 8] [--requests 16] [--prompt-tokens 128] [--max-tokens 128]
//     [--threads 2] [--prefill-chunk 64] [--seed 108] [--ops]
// Prompts are seeded random ids past the byte-fallback tokens; the byte tokens (3 … 258) get a bias of -100, as
// the bench-serve runs in BENCHMARKS.md send, so that random-weight models emit whole words.
import { parseArgs } from "node:util";
import { readFileSync } from "node:fs";
import { loadModel } from "../dist/engine.js";
import { BatchScheduler } from "../dist/generate/batch.js";

const { values: a } = parseArgs({ options: {
  model: { type: "string", short: "m" }, clients: { type: "string", short: "c", default: "8" }, requests: { type: "string", default: "16" },
  "prompt-tokens": { type: "string", default: "128" }, "max-tokens": { type: "string", default: "128" }, threads: { type: "string", default: "2" },
  "prefill-chunk": { type: "string", default: "64" }, seed: { type: "string", default: "108" }, ops: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
} });
if (a.help) { // the header comment is the usage
  const src = readFileSync(new URL(import.meta.url), "utf8").split("\n");
  console.log(src.slice(0, src.findIndex((l) => !l.startsWith("//"))).map((l) => l.replace(/^\/\/ ?/, "")).join("\n"));
  process.exit(0);
}
const int = (name) => {
  const v = Number(a[name]);
  if (!Number.isInteger(v) || v < 1) { console.error(`bench_scheduler: --${name} must be an integer ≥ 1, got "${a[name]}"`); process.exit(2); }
  return v;
};
if (!a.model) { console.error("bench_scheduler: give the model, -m FILE.gguf or a model directory"); process.exit(2); }
const C = int("clients"), R = int("requests"), P = int("prompt-tokens"), N = int("max-tokens");

const m = await loadModel(a.model, { backend: "wasm", threads: int("threads") });
const sched = new BatchScheduler(m.network, m.tokenizer, { parallel: C, prefillChunk: int("prefill-chunk") });
const V = m.config.vocab_size;
let seed = int("seed");
const rnd = () => { seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5; return (seed >>> 0) / 2 ** 32; };
const bias = new Map(Array.from({ length: 256 }, (_, i) => [3 + i, -100]));

// Forwards timed by what they held; backend ops timed inside the decode steps of B sequences (B from the first pass).
const net = m.network, be = net.backend, forward = net.forwardBatchAsync.bind(net);
const groups = new Map(), ops = new Map();
let opsFor = -1, current = "";
net.forwardBatchAsync = async (entries) => {
  const prompt = entries.some((e) => e.ids.length > 1);
  current = prompt ? "with prompt chunks" : `decode of ${entries.length}`;
  const t = performance.now(), out = await forward(entries);
  const g = groups.get(current) ?? { steps: 0, ms: 0, rows: 0 };
  g.steps++; g.ms += performance.now() - t; g.rows += entries.reduce((n, e) => n + e.ids.length, 0);
  groups.set(current, g);
  return out;
};
if (a.ops) {
  opsFor = C;
  for (const k of ["embed", "rmsnorm", "matmul", "qkNormRope", "copyRows", "attention", "attentionBatch", "swiglu", "addInPlace", "argmax"]) {
    if (typeof be[k] !== "function") continue;
    const f = be[k].bind(be);
    be[k] = (...args) => {
      if (current !== `decode of ${opsFor}`) return f(...args);
      const t = performance.now(), r = f(...args), o = ops.get(k) ?? { calls: 0, ms: 0 };
      o.calls++; o.ms += performance.now() - t; ops.set(k, o);
      return r;
    };
  }
}

let sent = 0, done = 0, out = 0;
const t0 = performance.now();
await new Promise((resolve, reject) => {
  const next = () => {
    if (sent >= R) return;
    const prompt = [1, ...Array.from({ length: P - 1 }, () => 259 + Math.floor(rnd() * (V - 259)))];
    sched.submit(sent++, prompt, { maxNewTokens: N, temperature: 0, ignoreEos: true, logitBias: bias }, {
      started() {}, delta() {}, error: reject,
      done(c) { out += c.completionTokens; if (++done === R) resolve(); else next(); },
    });
  };
  for (let i = 0; i < C; i++) next();
});
const s = (performance.now() - t0) / 1000, st = sched.stats();
console.log(`${C} clients, ${R} requests of ${P} prompt ids and ${N} tokens: ${s.toFixed(2)} s, ${(out / s).toFixed(1)} output tokens/s; ` +
  `${st.steps} steps, mean batch ${(st.stepSequences / st.steps).toFixed(2)}`);
console.log("| forwards | steps | ms | ms a step | rows |\n|---|---:|---:|---:|---:|");
for (const [k, g] of [...groups].sort((x, y) => y[1].ms - x[1].ms)) console.log(`| ${k} | ${g.steps} | ${g.ms.toFixed(0)} | ${(g.ms / g.steps).toFixed(1)} | ${g.rows} |`);
if (a.ops) {
  const steps = groups.get(`decode of ${opsFor}`)?.steps ?? 0;
  console.log(`\n| op in decode steps of ${opsFor} | calls | ms a step |\n|---|---:|---:|`);
  for (const [k, o] of [...ops].sort((x, y) => y[1].ms - x[1].ms)) console.log(`| ${k} | ${o.calls} | ${(o.ms / Math.max(1, steps)).toFixed(2)} |`);
}
m.dispose?.();
process.exit(0);
