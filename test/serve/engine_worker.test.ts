// The server with the model in an engine worker: the HTTP thread answers while a long prompt is prefilled,
// a disconnect cancels within one engine step, and a kernel trap fails the requests in flight with 500
// while the engine restarts and the server keeps serving. The engine is the real host over an instrumented
// backend (instrumented_worker.mjs: slow prefill steps, a trap on token id 31999). A client that asks for
// coalesced deltas (streamIntervalMs) gets the same text and ids in fewer messages, the first token at once.
import { afterEach, expect, test } from "vitest";
import { createOpenAIServer, type OpenAIServer } from "../../src/serve/server.js";
import { NodeEngine } from "../../src/worker/node_engine.js";

const TINY = "test/fixtures/openelm/tiny-32k";
const ID = "tiny";
const url = new URL("./instrumented_worker.mjs", import.meta.url);
const TRAP_ID = 31999;
let engine: NodeEngine | undefined;
let srv: OpenAIServer | undefined;
afterEach(async () => { await srv?.drain(); await engine?.dispose(); srv = engine = undefined; });

async function start(workerData: object, parallel = 2): Promise<string> {
  engine = await NodeEngine.start(TINY, { parallel, prefillChunk: 16 }, undefined, { url, workerData });
  srv = createOpenAIServer(engine, { modelId: ID });
  const addr = await srv.listen(0, "127.0.0.1");
  return `http://127.0.0.1:${addr.port}`;
}

const post = (base: string, body: object, signal?: AbortSignal) => fetch(`${base}/v1/completions`, { method: "POST", signal,
  headers: { "content-type": "application/json" }, body: JSON.stringify({ model: ID, temperature: 0, ...body }) });
const until = async (cond: () => Promise<boolean> | boolean, ms = 10_000) => {
  const t0 = Date.now();
  while (!(await cond())) { if (Date.now() - t0 > ms) throw new Error("timed out waiting"); await new Promise((r) => setTimeout(r, 10)); }
  return Date.now() - t0;
};

test("/health answers while a 200-token prompt is prefilled; a disconnect cancels within one step", async () => {
  const base = await start({ slowStepMs: 150 }); // 13 prefill chunks of 16 tokens, ≥ 150 ms each
  const prompt = [1, ...Array.from({ length: 199 }, (_, i) => 100 + ((i * 37) % 5000))];
  const ac = new AbortController();
  const pending = post(base, { prompt, max_tokens: 4, stream: true }, ac.signal).catch((e) => e);
  const client = await engine!.client();
  await until(async () => (await client.stats()).running === 1);
  const latencies: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const h = await (await fetch(`${base}/health`)).json();
    latencies.push(performance.now() - t0);
    expect(h).toMatchObject({ status: "ok", running: 1, queued: 0 });
  }
  const st = await client.stats();
  expect(st.generatedTokens).toBe(0); // still prefilling
  expect(Math.max(...latencies)).toBeLessThan(1000); // a prefill step blocks the engine, never the HTTP thread
  const t0 = Date.now();
  ac.abort();
  await pending;
  await until(async () => (await client.stats()).running === 0, 5000);
  expect(Date.now() - t0).toBeLessThan(1500); // one 150 ms step, plus a loaded machine's slack
  expect((await client.stats()).generatedTokens).toBe(0); // cancelled before its prefill finished
}, 30_000);

test("streamIntervalMs: the first token alone at once, the rest together before done; same text and ids as a delta a token", async () => {
  engine = await NodeEngine.start(TINY, { parallel: 1 });
  const client = await engine.client();
  const run = async (streamIntervalMs?: number) => {
    const gen = client.generate({ text: "Once upon a time" }, { maxNewTokens: 24, ignoreEos: true }, { streamIntervalMs });
    const deltas = [];
    for await (const d of gen) deltas.push(d);
    return { deltas, completion: await gen.result };
  };
  const each = await run();
  expect(each.deltas.every((d) => d.tokens.length === 1)).toBe(true);
  expect(each.deltas.length).toBe(24);
  const held = await run(60_000); // longer than the run: only the first delta is due before done
  expect(held.deltas.map((d) => d.tokens.length)).toEqual([1, 23]);
  expect(held.deltas.flatMap((d) => d.tokens)).toEqual(each.deltas.flatMap((d) => d.tokens));
  expect(held.deltas.map((d) => d.text).join("")).toBe(each.deltas.map((d) => d.text).join(""));
  expect(held.completion.tokens).toEqual(each.completion.tokens);
  expect(held.completion.text).toBe(held.deltas.map((d) => d.text).join(""));
}, 30_000);

test("a kernel trap fails the requests in flight with 500; the engine restarts and the server keeps serving", async () => {
  const base = await start({});
  // A streams; once it runs, B (with the trapping token) joins its batch and the step traps.
  const a = await post(base, { prompt: "Once upon a time", max_tokens: 200, ignore_eos: true, stream: true });
  const reader = a.body!.getReader();
  let streamed = new TextDecoder().decode((await reader.read()).value);
  const b = await post(base, { prompt: [1, 450, TRAP_ID, 4996], max_tokens: 4 });
  expect(b.status).toBe(500);
  expect((await b.json()).error).toMatchObject({ type: "server_error", code: "engine_fault" });
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    streamed += new TextDecoder().decode(value);
  }
  const events = streamed.split("\n\n").filter(Boolean);
  expect(events.at(-1)).toBe("data: [DONE]");
  expect(JSON.parse(events.at(-2)!.slice(6)).error).toMatchObject({ code: "engine_fault" });
  // the next request waits for the fresh engine and is answered
  const c = await post(base, { prompt: "Once upon a time", max_tokens: 3 });
  expect(c.status).toBe(200);
  expect((await c.json()).usage.completion_tokens).toBe(3);
  expect(engine!.restarts).toBe(1);
  const metrics = await (await fetch(`${base}/metrics`)).text();
  expect(metrics).toContain("openelm_engine_restarts_total 1\n");
  expect(metrics).toMatch(/openelm_requests_total\{finish_reason="error",code="engine_fault"\} 2\n/);
}, 60_000);
