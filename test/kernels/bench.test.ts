// openelm bench (src/cli/bench.ts) end to end on a tiny config: the JSON report has every (threads, test)
// pair with positive speeds, and bad arguments give one-line errors.

import { describe, expect, test, vi } from "vitest";
import { bench, type BenchOptions } from "../../src/cli/bench.js";
import { OpenELMModel } from "../../src/models/openelm.js";
import { SWIFTSHADER_ICD } from "./webgpu_cases.js";

const tinyConfig = new URL("../fixtures/openelm/tiny-small-vocab/config.json", import.meta.url).pathname;
const base: BenchOptions = { nPrompt: [8], nGen: [4], threads: [1, 2], repetitions: 2, seed: 0, relaxed: false, json: true };

async function captured(o: BenchOptions): Promise<string> {
  let out = "";
  const spy = vi.spyOn(process.stdout, "write").mockImplementation((s: string | Uint8Array) => { out += String(s); return true; });
  try { await bench(o); } finally { spy.mockRestore(); }
  return out;
}

describe("openelm bench", () => {
  test("random weights of a config: pp and tg for each thread count, in JSON", async () => {
    for (const dtype of ["f32", "q8_0"] as const) {
      const r = JSON.parse(await captured({ ...base, config: tinyConfig, dtype }));
      expect(r.results.map((x: { threads: number; test: string }) => `${x.threads}:${x.test}`)).toEqual(["1:pp8", "1:tg4", "2:pp8", "2:tg4"]);
      for (const x of r.results) {
        expect(x.samples_ts).toHaveLength(2);
        expect(x.avg_ts).toBeGreaterThan(0);
        expect(x.dtype).toBe(dtype);
      }
      expect(r.peak_rss_bytes).toBeGreaterThan(r.model_bytes);
    }
  }, 60_000);

  test("each test runs once untimed before its repetitions (forwards counted); --no-warmup skips it", async () => {
    const spy = vi.spyOn(OpenELMModel.prototype, "forwardBatchAsync");
    try {
      const o = { ...base, config: tinyConfig, threads: [1] };
      JSON.parse(await captured(o));
      const warm = spy.mock.calls.length;
      spy.mockClear();
      const r = JSON.parse(await captured({ ...o, warmup: false }));
      // pp8: 1 forward a run; tg4: 4 (the first token, then 3 steps); 2 repetitions, + 1 warm-up run each
      expect([warm, spy.mock.calls.length]).toEqual([3 * 1 + 3 * 4, 2 * 1 + 2 * 4]);
      expect(r.results.map((x: { samples_ts: number[] }) => x.samples_ts.length)).toEqual([2, 2]);
    } finally { spy.mockRestore(); }
  }, 60_000);

  test("-d: every test after d tokens in each cache (llama-bench's \"@ dN\"), batched decode too; past the context an error", async () => {
    // depth 152 + 8 prompt tokens fill the tiny model's 160 positions: the caches must be sized for the depth
    const r = JSON.parse(await captured({ ...base, config: tinyConfig, threads: [2], batch: [1, 2], nDepth: [0, 152] }));
    expect(r.results.map((x: { test: string; n_depth: number }) => `${x.test}:${x.n_depth}`))
      .toEqual(["pp8:0", "tg4:0", "tg4 x2:0", "pp8 @ d152:152", "tg4 @ d152:152", "tg4 x2 @ d152:152"]);
    for (const x of r.results) expect(x.avg_ts).toBeGreaterThan(0);
    await expect(bench({ ...base, config: tinyConfig, nDepth: [153] })).rejects.toThrow("bench: depth 153 + 8 tokens exceed the model's context of 160");
    await expect(bench({ ...base, config: tinyConfig, nDepth: [-1] })).rejects.toThrow("bench: --n-depth must be ≥ 0, got -1");
  }, 60_000);

  test("--profile: every backend op of a decode and of a prefill, matmuls by weight shape, shares adding up to the time", async () => {
    const r = JSON.parse(await captured({ ...base, config: tinyConfig, dtype: "q8_0", threads: [2], profile: true }));
    expect(r.profiles.map((p: { threads: number; test: string }) => `${p.threads}:${p.test}`)).toEqual(["2:decode", "2:pp8"]);
    type Row = { op: string; calls_per_token: number; ms_per_token: number; share: number; weight_gb_per_s?: number };
    const L = 5; // tiny-small-vocab: 5 layers, 4 matmuls each, plus the output head
    for (const p of r.profiles) {
      const rows = p.rows as Row[];
      const matmuls = rows.filter((x) => x.op.startsWith("matmul ")); // q8_0, or f16 where a width is not a multiple of 32
      expect(matmuls.reduce((a, x) => a + x.calls_per_token, 0)).toBe(4 * L + 1);
      // weights GB/s only where a token reads every weight once (decode)
      for (const x of matmuls) if (p.test === "decode") expect(x.weight_gb_per_s).toBeGreaterThan(0); else expect(x.weight_gb_per_s).toBeUndefined();
      expect(rows.find((x) => x.op === "attention")!.calls_per_token).toBe(L);
      expect(rows.reduce((a, x) => a + x.share, 0)).toBeCloseTo(1, 6);
    }
  }, 60_000);

  test("--profile with -b and -d: also a batched step of the largest batch, at the deepest depth, attention in one call a layer", async () => {
    const r = JSON.parse(await captured({ ...base, config: tinyConfig, dtype: "q8_0", threads: [2], batch: [1, 3], nDepth: [0, 40], profile: true }));
    expect(r.profiles.map((p: { test: string }) => p.test)).toEqual(["decode", "decode x3", "pp8"]);
    type Row = { op: string; calls_per_token: number; share: number };
    const L = 5;
    const one = r.profiles[0].rows as Row[], step = r.profiles[1].rows as Row[];
    expect(one.find((x) => x.op === "attention")!.calls_per_token).toBe(L);
    expect(step.find((x) => x.op === "attentionBatch")!.calls_per_token).toBe(L); // the 3 sequences' attention together
    expect(step.find((x) => x.op === "attention")).toBeUndefined();
    expect(step.filter((x) => x.op.startsWith("matmul ")).reduce((a, x) => a + x.calls_per_token, 0)).toBe(4 * L + 1); // each weight once a step
    for (const p of r.profiles) expect((p.rows as Row[]).reduce((a, x) => a + x.share, 0)).toBeCloseTo(1, 6);
  }, 60_000);

  test("--bandwidth: memory read GB/s for 1 thread and each thread count, in JSON", async () => {
    const r = JSON.parse(await captured({ ...base, config: tinyConfig, dtype: "q8_0", threads: [2], nPrompt: [0], nGen: [2], bandwidth: 32 }));
    expect(r.bandwidth.map((b: { threads: number }) => b.threads)).toEqual([1, 2]);
    for (const b of r.bandwidth) expect(b.read_gb_per_s).toBeGreaterThan(0.1);
    expect(r.wasm_memory_bytes).toBeLessThan(32 * 2 ** 20); // the probe's buffer is not counted as the engine's
  }, 60_000);

  test("--backend webgpu: pp and tg on the device (SwiftShader here), the adapter and kernel family named; WASM-only options refused", async () => {
    if (!process.env.VK_ICD_FILENAMES) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
    const r = JSON.parse(await captured({ ...base, threads: undefined, config: tinyConfig, dtype: "q8_0", nPrompt: [5], nGen: [3], repetitions: 1, backend: "webgpu", profile: true }));
    expect(r.results.map((x: { test: string }) => x.test)).toEqual(["pp5", "tg3"]);
    for (const x of r.results) {
      expect(x.backend).toMatch(/^webgpu (portable|workgroup) \(.+\)$/);
      expect(x.avg_ts).toBeGreaterThan(0);
    }
    // --profile on a device: queueing on the JS thread against submit + GPU + readback, one read a step.
    expect(r.profiles.map((p: { test: string }) => p.test)).toEqual(["decode", "pp5"]);
    for (const p of r.profiles) {
      const [queue, device] = p.rows;
      expect([queue.op, device.op]).toEqual(["queueing kernels (JS thread)", "submit, GPU work and readback"]);
      expect(queue.calls_per_token).toBeGreaterThan(10); // the tiny model's layers' ops
      expect(device.calls_per_token).toBe(1);
      expect(queue.share + device.share).toBeCloseTo(1, 6);
      expect(device.ms_per_token).toBeGreaterThan(0);
    }
    await expect(bench({ ...base, config: tinyConfig, backend: "webgpu" })).rejects.toThrow("bench: --threads, --bandwidth and --matvec-rows are for --backend wasm");
    await expect(bench({ ...base, config: tinyConfig, webgpuKernels: "portable" })).rejects.toThrow("bench: --webgpu-kernels is for --backend webgpu");
  }, 120_000);

  test("takes --model or --config, not both; a missing model is named", async () => {
    await expect(bench({ ...base, model: "x", config: tinyConfig })).rejects.toThrow("bench: give --model or --config, not both");
    await expect(bench({ ...base, model: "/nonexistent/dir" })).rejects.toThrow('model "/nonexistent/dir": no such directory, and not a hub id');
  });
});
