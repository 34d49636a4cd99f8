// Load script (not a test): N concurrent streaming clients against `openelm serve` for D seconds.
// Half the clients use the official openai client, half raw fetch (which also checks each SSE event
// parses and the stream ends with `data: [DONE]`); every 5th raw request disconnects after its first
// chunk on purpose (slots must come back). Reports failures, malformed streams, throughput, latency,
// and the server's peak RSS (VmHWM from /proc). Needs the built CLI (npx tsc -p tsconfig.json).
//
//   node test/serve/serve_load.mjs [--clients 8] [--seconds 60] [--model test/fixtures/openelm/tiny-32k]
//                                  [--backend ref] [--parallel 4] [--max-tokens 32]

import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import OpenAI from "openai";

const arg = (name, dflt) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? process.argv[i + 1] : dflt; };
const CLIENTS = Number(arg("clients", 8)), SECONDS = Number(arg("seconds", 60));
const MODEL = arg("model", "test/fixtures/openelm/tiny-32k"), BACKEND = arg("backend", "ref");
const PARALLEL = arg("parallel", "4"), MAX_TOKENS = Number(arg("max-tokens", 32));
const PROMPTS = ["Once upon a time", "The capital of France is", "OpenELM is a family of open efficient language models.", "def fib(n):"];

const server = spawn(process.execPath, ["dist/cli/main.js", "serve", "--model", MODEL, "--port", "0", "--backend", BACKEND, "--parallel", PARALLEL, "--model-id", "m", "--no-log"], { stdio: ["ignore", "ignore", "pipe"] });
let serverErr = "";
const base = await new Promise((resolve, reject) => {
  server.stderr.on("data", (d) => { serverErr += d; const m = /at (http:\/\/[\d.]+:\d+)\/v1/.exec(serverErr); if (m) resolve(m[1]); });
  server.on("exit", (c) => reject(new Error(`server exited ${c}: ${serverErr}`)));
});
const rssKb = (field) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${server.pid}/status`, "utf8"))?.[1] ?? 0);
const startRss = rssKb("VmRSS");
const rssSamples = [];
const sampler = setInterval(() => rssSamples.push(rssKb("VmRSS")), 1000);

const stats = { ok: 0, failed: 0, malformed: 0, disconnects: 0, tokens: 0, ttft: [], errors: [] };
const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: "unused", maxRetries: 0 });
const deadline = Date.now() + SECONDS * 1000;

async function viaOpenAI(i, n) {
  const chat = n % 2 === 0;
  const t0 = performance.now();
  let first = 0, pieces = 0, finish = null;
  const stream = chat
    ? await client.chat.completions.create({ model: "m", messages: [{ role: "user", content: PROMPTS[(i + n) % 4] }], max_tokens: MAX_TOKENS, temperature: 0.8, seed: n, stream: true })
    : await client.completions.create({ model: "m", prompt: PROMPTS[(i + n) % 4], max_tokens: MAX_TOKENS, temperature: 0.8, seed: n, stream: true });
  for await (const chunk of stream) {
    const c = chunk.choices[0];
    if (!c) continue;
    if (!first) first = performance.now() - t0;
    if ((chat ? c.delta.content : c.text)) pieces++;
    finish = c.finish_reason ?? finish;
  }
  if (finish !== "stop" && finish !== "length") throw new Error(`bad finish_reason ${finish}`);
  return { first, pieces };
}

async function viaFetch(i, n) {
  const disconnect = n % 5 === 4;
  const ac = new AbortController();
  const t0 = performance.now();
  const res = await fetch(`${base}/v1/completions`, { method: "POST", signal: ac.signal, headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "m", prompt: PROMPTS[(i + n) % 4], max_tokens: MAX_TOKENS, temperature: 0, stream: true }) });
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = "", first = 0, pieces = 0, done = false, finish = null;
  for (;;) {
    const { value, done: end } = await reader.read();
    if (end) break;
    if (!first) first = performance.now() - t0;
    if (disconnect) { ac.abort(); stats.disconnects++; return null; }
    buf += dec.decode(value, { stream: true });
    let k;
    while ((k = buf.indexOf("\n\n")) >= 0) {
      const ev = buf.slice(0, k); buf = buf.slice(k + 2);
      if (!ev.startsWith("data: ")) { stats.malformed++; throw new Error(`malformed event ${JSON.stringify(ev)}`); }
      if (ev === "data: [DONE]") { done = true; continue; }
      if (done) { stats.malformed++; throw new Error("event after [DONE]"); }
      const obj = JSON.parse(ev.slice(6));
      if (obj.error) throw new Error(`stream error ${obj.error.message}`);
      if (obj.choices[0].text) pieces++;
      finish = obj.choices[0].finish_reason ?? finish;
    }
  }
  if (!done || buf !== "") { stats.malformed++; throw new Error(`stream did not end with [DONE] (rest ${JSON.stringify(buf)})`); }
  if (finish !== "stop" && finish !== "length") throw new Error(`bad finish_reason ${finish}`);
  return { first, pieces };
}

async function worker(i) {
  for (let n = 0; Date.now() < deadline; n++) {
    try {
      const r = await (i % 2 === 0 ? viaOpenAI(i, n) : viaFetch(i, n));
      if (r) { stats.ok++; stats.tokens += r.pieces; stats.ttft.push(r.first); }
    } catch (e) {
      stats.failed++;
      if (stats.errors.length < 5) stats.errors.push(String(e?.message ?? e));
    }
  }
}

const t0 = performance.now();
await Promise.all(Array.from({ length: CLIENTS }, (_, i) => worker(i)));
const secs = (performance.now() - t0) / 1000;
clearInterval(sampler);
const health = await (await fetch(`${base}/health`)).json();
const peakRss = rssKb("VmHWM");
server.kill("SIGTERM");
const code = await new Promise((r) => server.on("exit", r));
const q = (p) => { const s = [...stats.ttft].sort((a, b) => a - b); return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))].toFixed(0) : "-"; };
const report = {
  clients: CLIENTS, seconds: Number(secs.toFixed(1)), model: MODEL, backend: BACKEND, parallel: Number(PARALLEL), max_tokens: MAX_TOKENS,
  completed_streams: stats.ok, failed: stats.failed, malformed: stats.malformed, intentional_disconnects: stats.disconnects,
  streamed_pieces: stats.tokens, pieces_per_s: Number((stats.tokens / secs).toFixed(1)),
  ttft_ms_p50: Number(q(0.5)), ttft_ms_p95: Number(q(0.95)),
  rss_start_mb: Number((startRss / 1024).toFixed(1)), rss_end_mb: Number(((rssSamples.at(-1) ?? 0) / 1024).toFixed(1)),
  peak_rss_mb: Number((peakRss / 1024).toFixed(1)),
  rss_mb_every_10s: rssSamples.filter((_, i) => i % 10 === 9).map((x) => Number((x / 1024).toFixed(1))),
  slots_after: health, server_exit_code: code, errors: stats.errors,
};
console.log(JSON.stringify(report, null, 2));
process.exitCode = stats.failed || stats.malformed || code !== 0 ? 1 : 0;
