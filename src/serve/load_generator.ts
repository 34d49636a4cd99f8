// A load generator for any OpenAI-compatible /v1/completions endpoint (after vLLM's benchmark_serving.py):
// N clients in a closed loop, each streaming one request after another, with seeded prompts of a fixed
// length (token ids, or lines of a prompt file) and a fixed completion length (ignore_eos). Measures per
// request the time to first token (TTFT) and the gaps between streamed chunks (inter-token latency, ITL),
// and over the run the output tokens a second. Optionally every prompt starts with the same seeded ids
// (sharedPrefix: what a prefix cache should reuse; the first request's TTFT is reported apart), and /health
// is polled during the run (healthProbeMs: does the server answer while it computes?).

import { Rng } from "../tensor/rng.js";

export interface LoadGenOptions {
  /** Base URL of the server (http://host:port); /v1/completions is appended. */
  url: string;
  /** The model id to send (default: the first of GET /v1/models). */
  model?: string;
  /** Clients sending at once. */
  concurrency: number;
  /** Prompt length in token ids (BOS, then seeded ids in [100, 30000)); ignored with prompts. */
  promptTokens: number;
  /** Text prompts to use instead (taken in seeded order). */
  prompts?: string[];
  /** Tokens to generate a request (sent as max_tokens with ignore_eos). */
  maxTokens: number;
  /** Stop after this many requests … */
  requests?: number;
  /** … or after this many seconds (requests in flight finish). */
  seconds?: number;
  seed: number;
  /** Give up on a request after this many ms. */
  timeoutMs?: number;
  /** The first sharedPrefix ids after BOS are the same in every prompt (seeded apart from seed, so runs share them). */
  sharedPrefix?: number;
  /** Poll GET /health every this many ms during the run and report its latency. */
  healthProbeMs?: number;
  /** Fields merged into every request body (e.g. a logit_bias), over the generator's own. */
  extraBody?: Record<string, unknown>;
}

export interface LoadReport {
  url: string;
  model: string;
  concurrency: number;
  promptTokens: number | null;
  maxTokens: number;
  requests: number;
  errors: number;
  /** First error messages (up to 5). */
  errorSamples: string[];
  durationS: number;
  outputTokens: number;
  outputTokensPerS: number;
  requestsPerS: number;
  ttftMs: Percentiles;
  itlMs: Percentiles;
  latencyMs: Percentiles;
  /** The first request's TTFT (with sharedPrefix: before anything was cached). */
  firstTtftMs: number;
  /** usage.prompt_tokens_details.cached_tokens over the requests (NaN where the server does not report it). */
  cachedTokens: Percentiles;
  /** GET /health latency during the run (healthProbeMs), and the probes that failed. */
  healthMs?: Percentiles;
  healthFailures?: number;
}

export interface Percentiles { p50: number; p90: number; p99: number; max: number; mean: number }

/** Nearest-rank percentiles and the maximum (a rare long gap hides under p99; NaN for no samples). */
export function percentiles(xs: number[]): Percentiles {
  if (xs.length === 0) return { p50: NaN, p90: NaN, p99: NaN, max: NaN, mean: NaN };
  const s = [...xs].sort((a, b) => a - b);
  const at = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
  return { p50: at(50), p90: at(90), p99: at(99), max: s[s.length - 1], mean: s.reduce((a, b) => a + b, 0) / s.length };
}

interface One { ok: boolean; error?: string; ttft: number; gaps: number[]; tokens: number; latency: number; cached?: number; order: number }

/** Stream one completion; never throws (errors are counted). */
async function one(url: string, body: object, timeoutMs: number, order: number): Promise<One> {
  const t0 = performance.now();
  const gaps: number[] = [];
  let ttft = NaN, last = 0, chunks = 0, usageTokens = -1, cached: number | undefined;
  try {
    const res = await fetch(`${url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok || !res.body) return { ok: false, error: `HTTP ${res.status}: ${(await res.text()).slice(0, 200)}`, ttft, gaps, tokens: 0, latency: 0, order };
    const decoder = new TextDecoder();
    let buf = "", done = false;
    for await (const part of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += decoder.decode(part, { stream: true });
      for (let i = buf.indexOf("\n\n"); i >= 0; i = buf.indexOf("\n\n")) {
        const ev = buf.slice(0, i).trim();
        buf = buf.slice(i + 2);
        if (!ev.startsWith("data:")) continue;
        const data = ev.slice(5).trim();
        if (data === "[DONE]") { done = true; continue; }
        const j = JSON.parse(data);
        if (j.error) return { ok: false, error: `stream error: ${j.error.message ?? JSON.stringify(j.error)}`, ttft, gaps, tokens: 0, latency: 0, order };
        if (j.usage?.completion_tokens !== undefined) usageTokens = j.usage.completion_tokens;
        if (typeof j.usage?.prompt_tokens_details?.cached_tokens === "number") cached = j.usage.prompt_tokens_details.cached_tokens;
        if (j.choices?.[0]?.text) {
          const now = performance.now();
          if (chunks === 0) ttft = now - t0; else gaps.push(now - last);
          last = now;
          chunks++;
        }
      }
    }
    if (!done) return { ok: false, error: "stream ended without [DONE]", ttft, gaps, tokens: 0, latency: 0, order };
    return { ok: true, ttft, gaps, tokens: usageTokens >= 0 ? usageTokens : chunks, latency: performance.now() - t0, cached, order };
  } catch (e) {
    return { ok: false, error: e instanceof Error ? e.message : String(e), ttft, gaps, tokens: 0, latency: 0, order };
  }
}

/** Run the load; resolves to the report. Throws when the server does not answer GET /v1/models. */
export async function runLoad(o: LoadGenOptions): Promise<LoadReport> {
  const url = o.url.replace(/\/+$/, "").replace(/\/v1$/, "");
  let model = o.model;
  if (!model) {
    const r = await fetch(`${url}/v1/models`);
    if (!r.ok) throw new Error(`GET ${url}/v1/models: HTTP ${r.status}`);
    model = ((await r.json()) as { data: { id: string }[] }).data[0]?.id;
    if (!model) throw new Error(`GET ${url}/v1/models: no models listed`);
  }
  const rng = new Rng(o.seed);
  const shared = o.sharedPrefix ?? 0;
  if (!Number.isInteger(shared) || shared < 0 || (shared > 0 && (o.prompts?.length || shared >= o.promptTokens - 1)))
    throw new Error(`bench-serve: --shared-prefix ${shared}: expected fewer ids than --prompt-tokens - 1 (${o.promptTokens - 1}) and no prompt file`);
  const prefixRng = new Rng(0x5eed);
  const prefix = Array.from({ length: shared }, () => 100 + Math.floor(prefixRng.next() * 29900));
  const prompt = (): string | number[] => {
    if (o.prompts?.length) return o.prompts[Math.floor(rng.next() * o.prompts.length)];
    return [1, ...prefix, ...Array.from({ length: o.promptTokens - 1 - shared }, () => 100 + Math.floor(rng.next() * 29900))];
  };
  const limit = o.requests ?? Infinity;
  const deadline = o.seconds !== undefined ? performance.now() + o.seconds * 1000 : Infinity;
  if (limit === Infinity && deadline === Infinity) throw new Error("bench-serve: give --requests or --seconds");
  let sent = 0;
  const results: One[] = [];
  const t0 = performance.now();
  const client = async () => {
    while (sent < limit && performance.now() < deadline) {
      const order = sent++;
      const body = { model, prompt: prompt(), max_tokens: o.maxTokens, temperature: 0, ignore_eos: true, stream: true,
        stream_options: { include_usage: true }, ...o.extraBody };
      results.push(await one(url, body, o.timeoutMs ?? 600_000, order));
    }
  };
  const health = o.healthProbeMs ? probeHealth(url, o.healthProbeMs) : null;
  await Promise.all(Array.from({ length: o.concurrency }, client));
  const dur = (performance.now() - t0) / 1000;
  const probes = await health?.stop();
  const ok = results.filter((r) => r.ok), bad = results.filter((r) => !r.ok);
  const outputTokens = ok.reduce((a, r) => a + r.tokens, 0);
  return {
    url, model, concurrency: o.concurrency, promptTokens: o.prompts?.length ? null : o.promptTokens, maxTokens: o.maxTokens,
    requests: ok.length, errors: bad.length, errorSamples: [...new Set(bad.map((r) => r.error!))].slice(0, 5), durationS: dur,
    outputTokens, outputTokensPerS: outputTokens / dur, requestsPerS: ok.length / dur,
    ttftMs: percentiles(ok.map((r) => r.ttft).filter((x) => !Number.isNaN(x))), itlMs: percentiles(ok.flatMap((r) => r.gaps)),
    latencyMs: percentiles(ok.map((r) => r.latency)),
    firstTtftMs: results.find((r) => r.order === 0)?.ttft ?? NaN,
    cachedTokens: percentiles(ok.map((r) => r.cached ?? NaN)),
    ...(probes ? { healthMs: percentiles(probes.ms), healthFailures: probes.failures } : {}),
  };
}

/** GET /health every everyMs (one at a time) until stop(); latencies of the answered probes. */
function probeHealth(url: string, everyMs: number): { stop(): Promise<{ ms: number[]; failures: number }> } {
  const ms: number[] = [];
  let failures = 0, running = true;
  const loop = (async () => {
    while (running) {
      const t = performance.now();
      try {
        const r = await fetch(`${url}/health`, { signal: AbortSignal.timeout(10_000) });
        await r.arrayBuffer();
        if (r.ok) ms.push(performance.now() - t); else failures++;
      } catch {
        failures++;
      }
      await new Promise((res) => setTimeout(res, Math.max(0, everyMs - (performance.now() - t))));
    }
  })();
  return { stop: async () => { running = false; await loop; return { ms, failures }; } };
}
