// openelm bench: prefill and decode speed like llama-bench (pp<N>: one forward over N prompt tokens;
// tg<N>: N single-token forwards from an empty cache), tokens/s mean ± sd over -r repetitions, plus
// peak RSS. With --config it builds random weights of the published shape, so nothing is downloaded.

import type { Command } from "commander";
import * as v8 from "node:v8";
import { runInNewContext } from "node:vm";
import { bytesFor, numel, type DType, type StoredTensor } from "../tensor/tensor.js";
import { parameterCount, type OpenELMConfig } from "../models/config.js";
import { expectedShapes, modelFromTensors } from "../models/load.js";
import { initStd } from "../models/init.js";
import { publishedConfigNames, resolveConfig } from "../models/registry.js";
import { openCheckpointDir } from "../io/model_dir.js";
import { loadGgufCheckpoint } from "../io/gguf_openelm.js";
import { encodeAs, quantizeTensors, targetDtype, WEIGHT_TYPES, type WeightType } from "../io/gguf_quantize.js";
import type { OpenELMModel } from "../models/openelm.js";
import type { Backend, Matrix } from "../kernels/backend.js";
import type { KVCache } from "../models/kv_cache.js";
import type { MatvecRows, WasmBackend } from "../kernels/wasm/index.js";
import { enableRelaxedSimd } from "../kernels/wasm/relaxed_simd.js";
import type { WebGPUBackend } from "../kernels/webgpu/index.js";
import { InvalidArgumentError } from "commander";
import { choiceArg, intArg, intListArg, UsageError } from "./args.js";
import { modelPath } from "./model_args.js";

export interface BenchOptions {
  model?: string; config?: string; dtype?: WeightType; nPrompt: number[]; nGen: number[]; threads?: number[];
  repetitions: number; json?: boolean; seed: number; relaxed: boolean; dotAdd: "auto" | "on" | "off"; floatTile: "auto" | "4" | "6"; profile?: boolean;
  /** One untimed run of each test before its timed runs (default true), as llama-bench warms up each test. */
  warmup?: boolean;
  /** After the tests, memory read bandwidth with 1 thread and each thread count: a streaming sum over this many MiB. */
  bandwidth?: number;
  /** Activation-row counts the small-batch matvecs take ("off": the tiled matmuls for every T > 1). */
  matvecRows?: MatvecRows;
  /** Sequences decoded together in the tg tests (batched forwards, as the server's continuous batching runs them). */
  batch?: number[];
  /** Tokens already in each cache when a test starts (prefilled untimed), like llama-bench's -d. */
  nDepth?: number[];
  /** Kernels: the WASM backend (default) or WebGPU (a device: each step's logits are read back, as generation does). */
  backend?: "wasm" | "webgpu";
  /** The WebGPU kernel family (WebGPUBackendOptions.kernels). */
  webgpuKernels?: "auto" | "workgroup" | "portable";
}

/** One row of a decode profile: a backend op (matmuls by weight shape), its time a token and its share. */
export interface ProfileRow { op: string; calls_per_token: number; ms_per_token: number; share: number; weight_gb_per_s?: number }

export interface BenchResult {
  model: string; dtype: string; size_bytes: number; params: number; backend: string; threads: number;
  test: string; n_prompt: number; n_gen: number; samples_ts: number[]; avg_ts: number; stddev_ts: number;
  /** Sequences decoded together (tg); t/s counts the tokens of all of them. */
  n_batch: number;
  /** Tokens in each cache before the test (prefilled, not timed). */
  n_depth: number;
}

/**
 * Fast random values with the init rule's standard deviations (models/init.ts initStd), drawn uniform rather
 * than normal: speed depends only on shapes, and this is ~20× quicker than Box-Muller over 270M+ values.
 */
function fastRandom(c: OpenELMConfig, name: string, shape: number[], seed: number, dtype: DType, collect?: () => void): Uint8Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const std = initStd(c, name, shape);
  if (std === 0) return encodeAs(dtype, new Float32Array(n).fill(1));
  const a = (2 * std * Math.sqrt(3)) / 4294967296, lo = std * Math.sqrt(3);
  let x = seed ^ 0x9e3779b9;
  for (let i = 0; i < name.length; i++) x = Math.imul(x ^ name.charCodeAt(i), 0x01000193);
  x |= 1;
  if (dtype === "f32") {
    const f = new Float32Array(n);
    for (let i = 0; i < n; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; f[i] = (x >>> 0) * a - lo; } // xorshift32
    return new Uint8Array(f.buffer);
  }
  // Encode rows in slices, so only the encoded tensor (not a float32 copy of it) is ever whole.
  const cols = shape[1], rowsPer = Math.max(1, Math.floor((1 << 20) / cols));
  const f = new Float32Array(rowsPer * cols);
  const out = new Uint8Array(bytesFor(dtype, n));
  for (let r0 = 0, o = 0; r0 < shape[0]; r0 += rowsPer) {
    const m = Math.min(rowsPer, shape[0] - r0) * cols;
    for (let i = 0; i < m; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; f[i] = (x >>> 0) * a - lo; }
    const part = encodeAs(dtype, f.subarray(0, m));
    out.set(part, o);
    o += part.length;
    if (collect && (r0 / rowsPer) % 16 === 15) collect(); // the encoded slices are garbage now
  }
  return out;
}

/**
 * Random weights of config c in the given weight type, made lazily: each tensor's bytes are generated when
 * the backend reads them, so only one tensor at a time lives outside the backend's memory.
 */
export function randomTensors(c: OpenELMConfig, type: WeightType, seed: number, collect?: () => void): Map<string, StoredTensor> {
  const m = new Map<string, StoredTensor>();
  const tied = c.share_input_output_layers;
  for (const [name, shape] of expectedShapes(c)) {
    const dtype: DType = targetDtype(name, shape, type, tied, c.num_transformer_layers);
    m.set(name, {
      name, dtype, shape,
      get data(): Uint8Array {
        return fastRandom(c, name, shape, seed, dtype, collect);
      },
    });
  }
  return m;
}

function meanSd(xs: number[]): [number, number] {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  const v = xs.length > 1 ? xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1) : 0;
  return [m, Math.sqrt(v)];
}

function randomIds(n: number, V: number, seed: number): number[] {
  let s = seed >>> 0;
  const ids: number[] = [];
  for (let i = 0; i < n; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; ids.push(3 + (s % (V - 3))); }
  return ids;
}

export function register(program: Command): void {
  program.command("bench")
    .description("prefill (pp) and decode (tg) tokens/s like llama-bench, plus peak RSS")
    .option("-m, --model <dir|file.gguf|repo>", "model directory, GGUF file, or hub id (default: the embedded model)")
    .option("--config <name|file>", `instead of --model: random weights of a published config (${publishedConfigNames().join(", ")})`)
    .option("--dtype <type>", `weight type: ${WEIGHT_TYPES.join(", ")} (default: f32 for --config, as stored otherwise)`, choiceArg(WEIGHT_TYPES))
    .option("-p, --n-prompt <list>", "prompt lengths to prefill", intListArg("prompt lengths"), [512])
    .option("-n, --n-gen <list>", "tokens to decode", intListArg("token counts"), [128])
    .option("-t, --threads <list>", "thread counts (default: all cores)", intListArg("thread counts"))
    .option("-b, --batch <list>", "sequences decoded together in the tg tests (aggregate t/s, like llama-batched-bench)", intListArg("batch sizes"), [1])
    .option("-d, --n-depth <list>", "tokens already in each cache when a test starts (prefilled, not timed), like llama-bench -d", intListArg("depths"), [0])
    .option("--backend <name>", "kernels: wasm (default) or webgpu (Node: the optional `webgpu` package; threads and --bandwidth are the WASM backend's)", choiceArg(["wasm", "webgpu"] as const), "wasm")
    .option("--webgpu-kernels <kind>", "with --backend webgpu: auto (default), workgroup (GPU kernels) or portable (CPU adapters' kernels)", choiceArg(["auto", "workgroup", "portable"] as const))
    .option("-r, --repetitions <n>", "runs of each test", intArg(1), 5)
    .option("--no-warmup", "skip the untimed run of each test before its timed runs")
    .option("--seed <n>", "seed of the random weights and prompt", intArg(0), 0)
    .option("--no-relaxed", "use the plain SIMD kernels even where relaxed SIMD is available")
    .option("--dot-add <mode>", "the quantized kernels' integer dots as i32 dot-adds (one vpdpbusd on AVX-VNNI in Node 24's V8): auto (where probed exact and faster), on, off", choiceArg(["auto", "on", "off"] as const), "auto")
    .option("--float-tile <tokens>", "tokens a tile of the float (f32, bf16, f16) prefill kernel: auto (6 where probed faster, as under Node 24), 4, 6; the backend column says +t6 where it is 6", choiceArg(["auto", "4", "6"] as const), "auto")
    .option("--matvec-rows <min-max|off>", "activation-row counts (batched decode steps) the small-batch matvec kernels take, e.g. 4-16 (the default); off: the tiled matmuls", matvecRowsArg)
    .option("--json", "print the results as JSON")
    .option("--profile", "after the tests, time every backend op of a decode (at the deepest -d; and of a batched step of the largest -b) and of the longest prompt's prefill (per thread count): where the time goes; webgpu: queueing kernels on the JS thread against GPU work and readback")
    .option("--bandwidth [MiB]", "after the tests, memory read bandwidth (GB/s, a streaming sum over MiB, default 1024: well above the last-level cache) with 1 thread and each thread count: decode's ceiling", intArg(1))
    .action(async (o: BenchOptions) => { await bench(o); });
}

function matvecRowsArg(v: string): MatvecRows {
  if (v.trim() === "off") return { min: 2, max: 1 };
  const m = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(v);
  if (!m || Number(m[1]) < 2 || Number(m[2]) < Number(m[1])) throw new InvalidArgumentError(`expected MIN-MAX with 2 ≤ MIN ≤ MAX (e.g. 4-8) or "off", got "${v}"`);
  return { min: Number(m[1]), max: Number(m[2]) };
}

export async function bench(o: BenchOptions): Promise<void> {
  if (o.model !== undefined && o.config !== undefined) throw new UsageError("bench: give --model or --config, not both");
  if (o.relaxed) enableRelaxedSimd(); // before the kernels compile
  const gpu = o.backend === "webgpu";
  if (gpu && (o.bandwidth !== undefined || o.threads || o.matvecRows))
    throw new UsageError("bench: --threads, --bandwidth and --matvec-rows are for --backend wasm");
  if (!gpu && o.webgpuKernels) throw new UsageError("bench: --webgpu-kernels is for --backend webgpu");
  const threads = gpu ? [1] : o.threads ?? [(await import("node:os")).availableParallelism()];
  if (threads.some((t) => t < 1)) throw new UsageError(`bench: --threads must be ≥ 1, got ${threads.join(",")}`);

  // Each tensor is garbage once the backend has copied it; collect it then, so peak RSS measures the
  // engine (weights + KV cache + work buffers), not how lazily V8 frees large ArrayBuffers.
  v8.setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as (() => void) | undefined;
  let config: OpenELMConfig, tensors: Map<string, StoredTensor>, label: string, closeFile = () => {};
  if (o.config !== undefined) {
    config = resolveConfig(o.config);
    tensors = randomTensors(config, o.dtype ?? "f32", o.seed, gc);
    label = `${o.config.replace(/^apple\//, "")} (random)`;
  } else {
    const path = await modelPath(o);
    // tensors read one at a time as the backend takes them
    const ck = path.endsWith(".gguf") ? loadGgufCheckpoint(path) : openCheckpointDir(path);
    closeFile = ck.close;
    config = ck.config;
    tensors = o.dtype ? quantizeTensors(ck.tensors, o.dtype) : ck.tensors;
    label = path.replace(/\/+$/, "").split("/").pop()!;
  }
  let sizeBytes = 0;
  const dtypes = new Set<string>();
  for (const t of tensors.values()) { sizeBytes += bytesFor(t.dtype, numel(t.shape)); if (t.shape.length === 2) dtypes.add(t.dtype); }
  const dtype = o.dtype ?? [...dtypes].join("+");

  const backend: Backend & Partial<WasmBackend> & Partial<WebGPUBackend> = gpu
    ? await (await import("../kernels/webgpu_node.js")).createNodeWebGPUBackend({ kernels: o.webgpuKernels })
    : await (await import("../kernels/wasm/index.js")).createWasmBackend({ threads: Math.max(...threads), relaxed: o.relaxed ? "auto" : false, matvecRows: o.matvecRows,
      dotAdd: o.dotAdd === "on" ? true : o.dotAdd === "off" ? false : "auto", floatTile: o.floatTile === "4" ? 4 : o.floatTile === "6" ? 6 : "auto" });
  const backendLabel = backend.adapterInfo ? `webgpu ${backend.kernels} (${backend.adapterInfo})` : backend.name + (backend.floatTile === 6 ? "+t6" : "");
  const loadMatrix = backend.loadMatrix.bind(backend);
  backend.loadMatrix = (t, rows, cols) => { const m = loadMatrix(t, rows, cols); gc?.(); return m; };
  let model: OpenELMModel;
  try { model = modelFromTensors(config, tensors, backend, label); } finally { closeFile(); }
  tensors.clear();
  const depths = o.nDepth ?? [0];
  if (depths.some((d) => d < 0)) throw new UsageError(`bench: --n-depth must be ≥ 0, got ${depths.join(",")}`);
  const longest = Math.max(...o.nPrompt, ...o.nGen), deepest = Math.max(...depths);
  if (deepest > 0 && deepest + longest > config.max_context_length)
    throw new UsageError(`bench: depth ${deepest} + ${longest} tokens exceed the model's context of ${config.max_context_length}`);
  const maxLen = Math.max(longest + deepest, 18) + 1; // at least 18: room for a profile's decode steps
  const cache = model.newCache(maxLen);
  const batches = o.batch ?? [1];
  if (batches.some((b) => b < 1)) throw new UsageError(`bench: --batch must be ≥ 1, got ${batches.join(",")}`);
  const more = Array.from({ length: Math.max(...batches) - 1 }, () => model.newCache(maxLen)); // the other sequences' caches
  const V = config.vocab_size, params = parameterCount(config);
  const kvBytes = cache.k.reduce((a, k) => a + k.byteLength * 2, 0);

  const results: BenchResult[] = [];
  const print = (s: string) => { if (!o.json) process.stdout.write(s); };
  print(`| model | size | params | backend | threads | test | t/s |\n|---|---|---|---|---|---|---|\n`);
  for (const t of threads) {
    backend.setThreads?.(t);
    const at = (d: number) => (d > 0 ? ` @ d${d}` : ""); // llama-bench's names
    const tests = depths.flatMap((d) => [...o.nPrompt.filter((n) => n > 0).map((n) => ({ test: `pp${n}${at(d)}`, p: n, g: 0, b: 1, d })),
      ...o.nGen.filter((n) => n > 0).flatMap((n) => batches.map((b) => ({ test: `tg${n}${b > 1 ? ` x${b}` : ""}${at(d)}`, p: 0, g: n, b, d })))]);
    for (const { test, p, g, b, d } of tests) {
      const samples: number[] = [];
      // Warm-up: the test once, untimed. A JIT engine's kernels and the JS around them reach their optimized tiers
      // only after they have run for a while (a tg128 that followed 2 warm-up tokens ran its first repetition ~8 %
      // slower than the rest), and the scratch and the cache's pages are faulted in.
      for (let r = o.warmup === false ? 0 : -1; r < o.repetitions; r++) {
        const ids = randomIds(Math.max(p, 1), V, o.seed + r + 1), context = randomIds(d, V, o.seed + 1000 + r);
        const ms = p > 0 ? await run(model, [cache], ids, 0, context)
          : await run(model, [cache, ...more.slice(0, b - 1)], ids.slice(0, 1), g - 1, context);
        if (r >= 0) samples.push(((p > 0 ? p : g * b) * 1000) / ms);
      }
      const [avg, sd] = meanSd(samples);
      results.push({ model: label, dtype, size_bytes: sizeBytes, params, backend: backendLabel, threads: t, test,
        n_prompt: p, n_gen: g, n_batch: b, n_depth: d, samples_ts: samples, avg_ts: avg, stddev_ts: sd });
      print(`| ${label} ${dtype} | ${(sizeBytes / 2 ** 20).toFixed(2)} MiB | ${(params / 1e6).toFixed(2)} M | ${backendLabel} | ${gpu ? "-" : t} | ${test} | ${avg.toFixed(2)} ± ${sd.toFixed(2)} |\n`);
    }
  }
  const peakRss = process.resourceUsage().maxRSS * 1024;
  const profiles: Array<{ threads: number; test: string; rows: ProfileRow[] }> = [];
  if (o.profile) {
    const pMax = Math.max(0, ...o.nPrompt);
    const profile = async (m: OpenELMModel, cs: KVCache[], be: Backend, mode: "decode" | "prefill", n: number, depth = 0) =>
      gpu ? profileDevice(m, cs[0], be, mode, n, depth) : profileOps(m, cs, be, mode, n, depth);
    for (const t of threads) {
      backend.setThreads?.(t);
      const steps = Math.max(1, Math.min(128, maxLen - 2 - deepest)), B = Math.max(...batches);
      const runs = [{ test: "decode", unit: "token", rows: await profile(model, [cache], backend, "decode", steps, deepest) }];
      if (B > 1 && !gpu) // a batched step of the largest batch: where the time of continuous batching goes
        runs.push({ test: `decode x${B}`, unit: `step of ${B} tokens`, rows: profileOps(model, [cache, ...more.slice(0, B - 1)], backend, "decode", steps, deepest) });
      if (pMax > 0) runs.push({ test: `pp${pMax}`, unit: "prompt", rows: await profile(model, [cache], backend, "prefill", pMax) });
      for (const { test, unit, rows } of runs) {
        profiles.push({ threads: t, test, rows });
        print(`
${test.startsWith("decode") ? `${test}${deepest > 0 ? ` @ d${deepest}` : ""}` : `prefill (${test})`} profile, ${gpu ? backendLabel : `${t} thread${t > 1 ? "s" : ""}`} (per ${unit}):\n| op | calls | ms | share | weights GB/s |\n|---|---:|---:|---:|---:|\n`);
        for (const r of rows) print(`| ${r.op} | ${r.calls_per_token} | ${r.ms_per_token.toFixed(3)} | ${(100 * r.share).toFixed(1)} % | ${r.weight_gb_per_s?.toFixed(1) ?? ""} |\n`);
      }
    }
  }
  // After peak RSS is taken: the probe's buffer is not the engine's memory.
  const bandwidth: Array<{ threads: number; read_gb_per_s: number }> = [];
  const wasmBytes = backend.memoryBytes?.() ?? 0;
  if (o.bandwidth !== undefined) {
    const mib = (o.bandwidth as number | boolean) === true ? 1024 : o.bandwidth;
    for (const t of [...new Set([1, ...threads])].sort((a, b) => a - b)) {
      backend.setThreads!(t);
      bandwidth.push({ threads: t, read_gb_per_s: backend.readBandwidth!(mib * 2 ** 20) });
    }
    print(`\nmemory read bandwidth (streaming sum over ${mib} MiB): ${bandwidth.map((b) => `${b.threads} thread${b.threads > 1 ? "s" : ""} ${b.read_gb_per_s.toFixed(1)} GB/s`).join(", ")}\n`);
  }
  backend.dispose?.();
  if (o.json) {
    process.stdout.write(JSON.stringify({ results, ...(o.profile ? { profiles } : {}), ...(o.bandwidth !== undefined ? { bandwidth } : {}), peak_rss_bytes: peakRss, model_bytes: sizeBytes, kv_cache_bytes: kvBytes,
      wasm_memory_bytes: wasmBytes, node: process.version }, null, 2) + "\n");
  } else {
    print(`\npeak RSS ${(peakRss / 2 ** 20).toFixed(1)} MiB (weights ${(sizeBytes / 2 ** 20).toFixed(1)} MiB, KV cache ${(kvBytes / 2 ** 20).toFixed(1)} MiB for ${maxLen} positions)\n`);
  }
}

/**
 * A device backend's step split where it can be timed from the host: queueing the kernels on the JS thread
 * (every backend op only records a dispatch), then read() (submit, the GPU's work, the copy back). Rows per
 * token for a decode of n tokens, per prompt for an n-token prefill; "calls" counts backend ops (dispatches
 * and more: attention is one to three) and reads.
 */
async function profileDevice(model: OpenELMModel, cache: KVCache, backend: Backend, mode: "decode" | "prefill", n: number, depth = 0): Promise<ProfileRow[]> {
  const ops = ["embed", "matmul", "rmsnorm", "qkNormRope", "attention", "swiglu", "addInPlace", "copyRows"] as const;
  const saved = ops.map((k) => [k, backend[k]] as const), read = backend.read!;
  let calls = 0, reads = 0, waited = 0;
  for (const k of ops) {
    const f = backend[k] as (...a: unknown[]) => void;
    (backend as unknown as Record<string, unknown>)[k] = (...a: unknown[]) => { calls++; f.apply(backend, a); };
  }
  backend.read = async (buf) => {
    const t0 = performance.now();
    try { return await read.call(backend, buf); } finally { waited += performance.now() - t0; reads++; }
  };
  try {
    cache.truncate(0);
    const ids = mode === "decode" ? randomIds(n, model.config.vocab_size, 11) : randomIds(n, model.config.vocab_size, 13);
    // warm-up (pipelines, bind groups, work buffers); a decode continues after depth random tokens and one more
    await model.forwardAsync(mode === "decode" ? [...randomIds(depth, model.config.vocab_size, 17), 1] : ids, cache);
    if (mode === "prefill") cache.truncate(0);
    calls = 0; reads = 0; waited = 0;
    const t0 = performance.now();
    if (mode === "decode") for (const id of ids) await model.forwardAsync([id], cache);
    else await model.forwardAsync(ids, cache);
    const total = performance.now() - t0, per = mode === "decode" ? n : 1;
    return [
      { op: "queueing kernels (JS thread)", calls_per_token: calls / per, ms_per_token: (total - waited) / per, share: 1 - waited / total },
      { op: "submit, GPU work and readback", calls_per_token: reads / per, ms_per_token: waited / per, share: waited / total },
    ];
  } finally {
    for (const [k, f] of saved) (backend as unknown as Record<string, unknown>)[k] = f;
    backend.read = read;
  }
}

/**
 * Every backend op timed (kernels run synchronously on the calling thread, so wall time per call is the op's
 * time), matmuls split by weight shape and type: a decode of `n` steps after `depth` random tokens and one
 * more, every cache a sequence decoded together (rows per step), or the prefill of one n-token prompt (rows
 * for the whole prompt).
 */
function profileOps(model: OpenELMModel, caches: KVCache[], backend: Backend, mode: "decode" | "prefill", n: number, depth = 0): ProfileRow[] {
  const cache = caches[0];
  const ops = (["embed", "matmul", "rmsnorm", "qkNormRope", "attention", "attentionBatch", "swiglu", "addInPlace", "copyRows"] as const)
    .filter((k) => typeof backend[k] === "function");
  const time = new Map<string, { ms: number; calls: number; bytes: number }>();
  const saved = ops.map((k) => [k, backend[k]] as const);
  for (const k of ops) {
    const f = backend[k] as (...a: unknown[]) => void;
    (backend as unknown as Record<string, unknown>)[k] = (...a: unknown[]) => {
      const t0 = performance.now();
      f.apply(backend, a);
      const ms = performance.now() - t0;
      const m = k === "matmul" ? (a[2] as Matrix) : null;
      const key = m ? `matmul ${m.dtype} ${m.rows}×${m.cols}` : k;
      const e = time.get(key) ?? { ms: 0, calls: 0, bytes: m ? bytesFor(m.dtype, m.rows * m.cols) : 0 };
      e.ms += ms; e.calls++;
      time.set(key, e);
    };
  }
  try {
    cache.truncate(0);
    let total: number, per: number;
    if (mode === "decode") {
      const context = [...randomIds(depth, model.config.vocab_size, 17), 1];
      for (const c of caches) { c.truncate(0); model.forward(context, c); }
      time.clear();
      const next = randomIds(n, model.config.vocab_size, 11);
      const t0 = performance.now();
      for (const id of next) model.forwardBatch(caches.map((c) => ({ ids: [id], cache: c, logits: "last" as const })));
      total = performance.now() - t0; per = n;
    } else {
      const ids = randomIds(n, model.config.vocab_size, 13);
      model.forward(ids, cache); // warm-up at this length
      cache.truncate(0);
      time.clear();
      const t0 = performance.now();
      model.forward(ids, cache);
      total = performance.now() - t0; per = 1;
    }
    const rows: ProfileRow[] = [...time].sort((a, b) => b[1].ms - a[1].ms).map(([op, e]) => ({
      op, calls_per_token: e.calls / per, ms_per_token: e.ms / per, share: e.ms / total,
      ...(e.bytes && mode === "decode" ? { weight_gb_per_s: (e.bytes * e.calls) / (e.ms * 1e6) } : {}),
    }));
    const accounted = rows.reduce((a, r) => a + r.ms_per_token, 0);
    rows.push({ op: "other (JS between ops)", calls_per_token: 0, ms_per_token: total / per - accounted, share: 1 - (accounted * per) / total });
    return rows;
  } finally {
    for (const [k, f] of saved) (backend as unknown as Record<string, unknown>)[k] = f;
  }
}

/**
 * Prefill ids into each emptied cache (after `context`, prefilled untimed), then decode `steps` more tokens one at
 * a time (ids fixed in advance), all caches together in one batched forward a step; ms. Every step's logits are in
 * host memory when it ends (a device backend reads them back, as generation must to sample).
 */
async function run(model: OpenELMModel, caches: KVCache[], ids: number[], steps: number, context: number[] = []): Promise<number> {
  const next = randomIds(steps, model.config.vocab_size, 7);
  for (const c of caches) c.truncate(0);
  if (context.length) await model.forwardBatchAsync(caches.map((cache) => ({ ids: context, cache, logits: "none" as const })));
  const t0 = performance.now();
  await model.forwardBatchAsync(caches.map((cache) => ({ ids, cache, logits: "last" as const })));
  for (let s = 0; s < steps; s++)
    await model.forwardBatchAsync(caches.map((cache) => ({ ids: [next[s]], cache, logits: "last" as const })));
  return performance.now() - t0;
}
