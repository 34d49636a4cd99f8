// The OpenAI-compatible server, driven by the official `openai` npm client (streamed and not) and by raw
// HTTP for the error paths; answers must equal the library's own greedy output for the same request.

import { request } from "node:http";
import { connect } from "node:net";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { loadModel, type Model } from "../../src/engine.js";
import { createOpenAIServer, type OpenAIServer } from "../../src/serve/server.js";
import { NodeEngine } from "../../src/worker/node_engine.js";
import { percentiles, runLoad } from "../../src/serve/load_generator.js";
import { createWasmBackend } from "../../src/kernels/wasm/index.js";

const TINY = "test/fixtures/openelm/tiny-32k";
const seq = JSON.parse(readFileSync(join(TINY, "expected.json"), "utf8")).sequences.find((s: { name: string }) => s.name === "text_openelm");
const PROMPT: string = seq.text;
const GREEDY: number[] = seq.greedy.tokens; // float64 reference, 24 steps
const ID = "tiny-32k";

let model: Model;
let engine: NodeEngine;
let srv: OpenAIServer;
const logLines: string[] = [];
let base: string;
let client: OpenAI;

beforeAll(async () => {
  model = await loadModel(TINY, { backend: await createWasmBackend({ threads: 1 }) });
  engine = await NodeEngine.start(TINY, { backend: "wasm", threads: 1, parallel: 2 }); // the same kernels as `model`
  srv = createOpenAIServer(engine, { modelId: ID, maxBodyBytes: 4096, log: (l) => logLines.push(l) });
  const addr = await srv.listen(0, "127.0.0.1");
  base = `http://127.0.0.1:${addr.port}`;
  client = new OpenAI({ baseURL: `${base}/v1`, apiKey: "unused", maxRetries: 0 });
});
afterAll(async () => { await srv.drain(); await engine.dispose(); });

const chatMessages = [{ role: "system" as const, content: "Be brief." }, { role: "user" as const, content: "What is OpenELM?" }];

describe("server with the openai client", () => {
  test("GET /v1/models lists the model", async () => {
    const page = await client.models.list();
    expect(page.data.map((m) => m.id)).toEqual([ID]);
    expect((await client.models.retrieve(ID)).id).toBe(ID);
  });

  test("non-streamed completion equals the library's greedy output", async () => {
    const lib = await model.complete(PROMPT, { maxNewTokens: GREEDY.length, temperature: 0 });
    expect(lib.tokens).toEqual(GREEDY);
    const r = await client.completions.create({ model: ID, prompt: PROMPT, max_tokens: GREEDY.length, temperature: 0 });
    expect(r.object).toBe("text_completion");
    expect(r.choices[0].text).toBe(lib.text);
    expect(r.choices[0].finish_reason).toBe("length");
    expect(r.usage).toMatchObject({ prompt_tokens: seq.input_ids.length, completion_tokens: GREEDY.length, total_tokens: seq.input_ids.length + GREEDY.length });
  });

  test("streamed completion equals the library's greedy output", async () => {
    const lib = await model.complete(PROMPT, { maxNewTokens: 12, temperature: 0 });
    const stream = await client.completions.create({ model: ID, prompt: PROMPT, max_tokens: 12, temperature: 0, stream: true, stream_options: { include_usage: true } });
    let text = "";
    let finish: string | null = null;
    let usage;
    for await (const chunk of stream) {
      for (const c of chunk.choices) { text += c.text; finish = c.finish_reason ?? finish; }
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe(lib.text);
    expect(finish).toBe("length");
    expect(usage).toMatchObject({ prompt_tokens: seq.input_ids.length, completion_tokens: 12, total_tokens: seq.input_ids.length + 12 });
  });

  test("chat completions, streamed and not, equal the library's chat", async () => {
    const lib = await model.chat(chatMessages, { maxNewTokens: 10, temperature: 0 });
    const r = await client.chat.completions.create({ model: ID, messages: chatMessages, max_tokens: 10, temperature: 0 });
    expect(r.object).toBe("chat.completion");
    expect(r.choices[0].message).toMatchObject({ role: "assistant", content: lib.text });
    expect(r.usage?.prompt_tokens).toBe(model.encodeChat(chatMessages).length);
    const stream = await client.chat.completions.create({ model: ID, messages: chatMessages, max_tokens: 10, temperature: 0, stream: true });
    let text = "";
    const roles: string[] = [];
    const finishes: string[] = [];
    for await (const chunk of stream) {
      expect(chunk.object).toBe("chat.completion.chunk");
      const c = chunk.choices[0];
      if (c.delta.role) roles.push(c.delta.role);
      text += c.delta.content ?? "";
      if (c.finish_reason) finishes.push(c.finish_reason);
    }
    expect(roles).toEqual(["assistant"]);
    expect(text).toBe(lib.text);
    expect(finishes).toEqual([lib.finishReason === "length" ? "length" : "stop"]);
  });

  test("stop strings end the text before them with finish_reason stop", async () => {
    const lib = await model.complete(PROMPT, { maxNewTokens: 24, temperature: 0 });
    const stopAt = lib.text.slice(10, 16);
    const r = await client.completions.create({ model: ID, prompt: PROMPT, max_tokens: 24, temperature: 0, stop: [stopAt] });
    expect(r.choices[0].text).toBe(lib.text.slice(0, lib.text.indexOf(stopAt)));
    expect(r.choices[0].finish_reason).toBe("stop");
  });

  test("sampling with a seed is reproducible; penalties and the repetition_penalty extension are accepted", async () => {
    const req = { model: ID, prompt: PROMPT, max_tokens: 8, temperature: 0.9, top_p: 0.95, seed: 42, presence_penalty: 0.5, frequency_penalty: 0.5 };
    const a = await client.completions.create(req);
    const b = await client.completions.create(req);
    expect(a.choices[0].text).toBe(b.choices[0].text);
    const lib = await model.complete(PROMPT, { maxNewTokens: 8, temperature: 0.9, topP: 0.95, seed: 42, presencePenalty: 0.5, frequencyPenalty: 0.5 });
    expect(a.choices[0].text).toBe(lib.text);
    const rp = await client.completions.create({ model: ID, prompt: PROMPT, max_tokens: 8, temperature: 0, repetition_penalty: 1.2 } as OpenAI.CompletionCreateParamsNonStreaming);
    expect(rp.choices[0].text).toBe((await model.complete(PROMPT, { maxNewTokens: 8, repetitionPenalty: 1.2 })).text);
  });

  test("errors reach the client as OpenAI errors", async () => {
    const e = await client.completions.create({ model: ID, prompt: PROMPT, max_tokens: 1000 }).catch((x) => x);
    expect(e).toBeInstanceOf(OpenAI.BadRequestError);
    expect(e.status).toBe(400);
    expect(e.code).toBe("context_length_exceeded");
    const m = await client.completions.create({ model: "gpt-4", prompt: "x" }).catch((x) => x);
    expect(m).toBeInstanceOf(OpenAI.NotFoundError);
  });
});

async function raw(method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<{ status: number; json: any }> {
  const res = await fetch(base + path, { method, body, headers: { "content-type": "application/json", ...headers } });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

describe("server error paths (raw HTTP)", () => {
  test("bad JSON", async () => {
    const r = await raw("POST", "/v1/completions", "{not json");
    expect(r.status).toBe(400);
    expect(r.json.error.type).toBe("invalid_request_error");
    expect(r.json.error.code).toBe("invalid_json");
    expect(r.json.error.message).toMatch(/^We could not parse the JSON body of your request\. \(/);
  });

  test("unknown fields are ignored; known fields of the wrong type are named", async () => {
    const r = await raw("POST", "/v1/completions", JSON.stringify({ model: ID, prompt: PROMPT, max_tokens: 3, temperature: 0, max_tokenz: 5, vendor_x: { a: 1 } }));
    expect(r.status).toBe(200);
    expect(r.json.usage.completion_tokens).toBe(3);
    const c = await raw("POST", "/v1/chat/completions", JSON.stringify({ model: ID, messages: [{ role: "user", content: "x", foo: 1 }], max_tokens: 2 }));
    expect(c.status).toBe(200);
    const t = await raw("POST", "/v1/completions", JSON.stringify({ model: ID, prompt: "x", top_p: "high" }));
    expect(t).toEqual({ status: 400, json: { error: { message: 'top_p: expected a number in [0, 1] (1 = off), got "high"', type: "invalid_request_error", param: "top_p", code: null } } });
    const m = await raw("POST", "/v1/chat/completions", JSON.stringify({ model: ID, messages: [{ role: "user", content: 5 }] }));
    expect(m.json.error).toMatchObject({ param: "messages[0].content" });
  });

  test("bad values are named", async () => {
    const cases: Array<[object, string, string]> = [
      [{ model: ID, prompt: "x", temperature: 3 }, "temperature: 3 is out of range; expected a number in [0, 2] (0 = greedy)", "temperature"],
      [{ model: ID, prompt: "x", max_tokens: "5" }, 'max_tokens: expected an integer in [0, 2147483647], got "5"', "max_tokens"],
      [{ model: ID, prompt: "x", n: 2 }, "n: not supported by this server (only n = 1)", "n"],
      [{ model: ID, prompt: "x", stop: [1] }, "stop: expected a string or an array of up to 4 strings", "stop"],
      [{ model: ID }, "prompt: required (a string or an array of token ids)", "prompt"],
      [{ prompt: "x" }, "model: required (a string; see GET /v1/models)", "model"],
      [{ model: ID, prompt: "x", logit_bias: [[5, 1]] }, "logit_bias: expected an object mapping token ids to biases, got [[5,1]]", "logit_bias"],
      [{ model: ID, prompt: "x", logit_bias: { "-3": 1 } }, 'logit_bias: key "-3" is not a token id (expected a non-negative integer)', "logit_bias"],
      [{ model: ID, prompt: "x", logit_bias: { 7: 101 } }, "logit_bias: the bias of token 7 must be a number in [-100, 100], got 101", "logit_bias"],
      [{ model: ID, prompt: "x", logit_bias: { 32000: -100 } }, 'logit_bias: key "32000" is not a token id (expected an integer in [0, 31999])', "logit_bias"],
    ];
    for (const [body, message, param] of cases) {
      const r = await raw("POST", "/v1/completions", JSON.stringify(body));
      expect(r.status).toBe(400);
      expect(r.json.error).toMatchObject({ message, param });
    }
    const chat = await raw("POST", "/v1/chat/completions", JSON.stringify({ model: ID, messages: [{ role: "tool", content: "x" }] }));
    expect(chat.json.error).toMatchObject({ message: 'messages[0].role: expected "system", "user" or "assistant", got "tool"', param: "messages[0].role" });
  });

  test("logit_bias: -100 bans the greedy tokens, +100 forces one (OpenAI's semantics)", async () => {
    const ask = async (logit_bias?: object) => (await raw("POST", "/v1/completions", JSON.stringify({ model: ID, prompt: PROMPT, max_tokens: 6, temperature: 0, ignore_eos: true, logit_bias }))).json;
    const plain = await ask();
    const banned = Object.fromEntries(GREEDY.slice(0, 6).map((id) => [String(id), -100]));
    const lib = await model.complete(PROMPT, { maxNewTokens: 6, temperature: 0, ignoreEos: true, logitBias: banned });
    expect(lib.tokens.some((t) => GREEDY.slice(0, 6).includes(t))).toBe(false);
    const b = await ask(banned);
    expect(b.choices[0].text).toBe(lib.text);
    expect(b.choices[0].text).not.toBe(plain.choices[0].text);
    const forced = await model.complete(PROMPT, { maxNewTokens: 3, temperature: 0, ignoreEos: true, logitBias: { 1000: 100 } });
    expect(forced.tokens).toEqual([1000, 1000, 1000]);
  });

  test("max_tokens past the context", async () => {
    const r = await raw("POST", "/v1/completions", JSON.stringify({ model: ID, prompt: PROMPT, max_tokens: 250 }));
    expect(r.status).toBe(400);
    expect(r.json.error).toEqual({
      message: "This model's maximum context length is 256 tokens. However, you requested 263 tokens (13 in the prompt, 250 in the completion). Please reduce the length of the prompt or completion.",
      type: "invalid_request_error", param: "max_tokens", code: "context_length_exceeded",
    });
  });

  test("oversized bodies are refused with 413", async () => {
    const r = await raw("POST", "/v1/completions", JSON.stringify({ model: ID, prompt: "x".repeat(5000) }));
    expect(r.status).toBe(413);
    expect(r.json.error).toMatchObject({ message: "request body too large: the limit is 4096 bytes", code: "request_too_large" });
  });

  test("an oversized chunked body (no Content-Length) still gets its 413 answer", async () => {
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(base + "/v1/completions", { method: "POST", headers: { "content-type": "application/json", "transfer-encoding": "chunked" } }, (res) => {
        let body = "";
        res.on("data", (d) => { body += d; });
        res.on("end", () => resolve({ status: res.statusCode!, body }));
      });
      req.on("error", reject);
      let sent = 0;
      const tick = () => {
        if (sent++ < 4) { req.write("x".repeat(2000)); setTimeout(tick, 20); } else req.end();
      };
      tick();
    });
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.body).error.code).toBe("request_too_large");
  });

  test("unknown model, route and method", async () => {
    expect((await raw("POST", "/v1/completions", JSON.stringify({ model: "nope", prompt: "x" }))).json.error).toMatchObject(
      { message: "The model `nope` does not exist (this server serves one model; see GET /v1/models)", code: "model_not_found" });
    expect((await raw("GET", "/v2/anything")).status).toBe(404);
    const m = await raw("GET", "/v1/completions");
    expect(m.status).toBe(405);
    expect(m.json.error.message).toBe("method GET not allowed here; use POST");
  });

  test("GET /health", async () => {
    const r = await raw("GET", "/health");
    expect(r).toEqual({ status: 200, json: { status: "ok", model: ID, running: 0, queued: 0 } });
  });
});

describe("server concurrency", () => {
  test("a client that disconnects mid-stream frees its slot at once", async () => {
    const body = JSON.stringify({ model: ID, prompt: PROMPT, max_tokens: 200, temperature: 0, stream: true, ignore_eos: true });
    const firstChunk = await new Promise<string>((resolve, reject) => {
      const req = request(base + "/v1/completions", { method: "POST", headers: { "content-type": "application/json" } }, (res) => {
        res.once("data", (d: Buffer) => { resolve(d.toString()); req.destroy(); });
      });
      req.on("error", () => {});
      req.on("close", () => {});
      req.end(body);
      setTimeout(() => reject(new Error("no chunk")), 10_000);
    });
    expect(firstChunk.startsWith("data: {")).toBe(true);
    const t0 = Date.now();
    while (srv.stats().running > 0 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 10));
    // 200 tokens take several seconds here; the slot is back long before that
    expect(srv.stats().running).toBe(0);
    expect(Date.now() - t0).toBeLessThan(2500);
  });

  test("with one slot, requests are answered in arrival order and a full line answers 503", async () => {
    const eng1 = await NodeEngine.start(TINY, { backend: "wasm", threads: 1, parallel: 1, maxQueue: 2 });
    const one = createOpenAIServer(eng1, { modelId: ID });
    const addr = await one.listen(0, "127.0.0.1");
    const post = (max: number) => fetch(`http://127.0.0.1:${addr.port}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: ID, prompt: PROMPT, max_tokens: max, temperature: 0, ignore_eos: true }) });
    const order: number[] = [];
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < 3; i++) {
      // the first long enough to still run when the fourth arrives (the tiny model's steps run back to back, well under 1 ms each)
      pending.push(post(i === 0 ? 64 : 2).then(async (r) => { expect(r.status).toBe(200); await r.json(); order.push(i); }));
      while (one.stats().running + one.stats().queued < i + 1) await new Promise((r) => setTimeout(r, 5)); // arrival order is fixed
    }
    const full = await post(2); // 1 running + 2 waiting: the line is full
    expect(full.status).toBe(503);
    expect((await full.json()).error).toMatchObject({ code: "server_busy", message: "the server is busy (2 requests waiting); retry later" });
    await Promise.all(pending);
    expect(order).toEqual([0, 1, 2]); // the short ones waited for the long first one
    await one.drain();
    await eng1.dispose();
  });

  test("concurrent streams all complete with [DONE] and the right text", async () => {
    const lib = await model.complete(PROMPT, { maxNewTokens: 6, temperature: 0 });
    const one = async () => {
      const res = await fetch(base + "/v1/completions", { method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: ID, prompt: PROMPT, max_tokens: 6, temperature: 0, stream: true }) });
      const text = await res.text();
      const events = text.split("\n\n").filter(Boolean);
      expect(events.at(-1)).toBe("data: [DONE]");
      return events.slice(0, -1).map((e) => JSON.parse(e.slice(6)).choices[0].text).join("");
    };
    const texts = await Promise.all([one(), one(), one(), one(), one()]); // 5 streams, 2 slots
    expect(texts).toEqual(Array(5).fill(lib.text));
  });
});

describe("server faults, prefix cache and metrics", () => {
  test("slow clients (headers or body trickled) time out without holding a slot", async () => {
    const slow = createOpenAIServer(engine, { modelId: ID, headersTimeoutMs: 300, requestTimeoutMs: 600 });
    const addr = await slow.listen(0, "127.0.0.1");
    const trickle = (first: string) => new Promise<{ ms: number; answer: string }>((resolve) => {
      const t0 = Date.now();
      const sock = connect(addr.port, "127.0.0.1", () => sock.write(first));
      let answer = "";
      const drip = setInterval(() => { if (!sock.destroyed) sock.write("x"); }, 100); // a byte every 100 ms, never done
      sock.on("data", (d) => { answer += d; });
      sock.on("error", () => {});
      sock.on("close", () => { clearInterval(drip); resolve({ ms: Date.now() - t0, answer }); });
    });
    const [headers, body] = await Promise.all([
      trickle("POST /v1/completions HTTP/1.1\r\nHost: x\r\nX-Slow: "),
      trickle(`POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"model": "${ID}", "prompt": "`),
    ]);
    for (const r of [headers, body]) {
      expect(r.answer).toMatch(/^HTTP\/1\.1 408/);
      expect(r.ms).toBeLessThan(3000);
    }
    expect(srv.stats().running + slow.stats().running).toBe(0);
    await slow.drain();
  });

  test("a prompt sharing whole 16-token blocks with an earlier one reports them as cached_tokens, with the same output", async () => {
    const ids = [1, ...Array.from({ length: 40 }, (_, i) => 300 + i * 11)];
    const fresh = await raw("POST", "/v1/completions", JSON.stringify({ model: ID, prompt: ids, max_tokens: 5, temperature: 0 }));
    const again = await raw("POST", "/v1/completions", JSON.stringify({ model: ID, prompt: ids, max_tokens: 5, temperature: 0 }));
    expect(again.json.usage.prompt_tokens_details.cached_tokens).toBe(32); // 41 tokens: two whole blocks, the rest computed
    expect(again.json.choices[0].text).toBe(fresh.json.choices[0].text);
    const lib = await model.complete(ids, { maxNewTokens: 5 });
    expect(fresh.json.choices[0].text).toBe(lib.text);
  });

  test("GET /metrics is Prometheus text; each request logs one JSON line", async () => {
    const before = logLines.length;
    const r = await raw("POST", "/v1/completions", JSON.stringify({ model: ID, prompt: PROMPT, max_tokens: 4, temperature: 0, ignore_eos: true }));
    expect(r.status).toBe(200);
    const res = await fetch(base + "/metrics");
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const value = (name: string) => Number(new RegExp(`^${name.replace(/[{}"+]/g, (c) => "\\" + c)} (\\S+)$`, "m").exec(text)?.[1]);
    expect(value('openelm_requests_total{finish_reason="length"}')).toBeGreaterThan(0);
    expect(value("openelm_generation_tokens_total")).toBeGreaterThanOrEqual(4);
    expect(value("openelm_time_to_first_token_seconds_count")).toBeGreaterThan(0);
    expect(value('openelm_time_to_first_token_seconds_bucket{le="+Inf"}')).toBe(value("openelm_time_to_first_token_seconds_count"));
    expect(value("openelm_inter_token_latency_seconds_count")).toBeGreaterThanOrEqual(3);
    expect(value("openelm_requests_running")).toBe(0);
    expect(value("openelm_kv_cache_budget_bytes")).toBeGreaterThan(0);
    expect(text).toContain("# TYPE openelm_time_to_first_token_seconds histogram\n");
    const line = JSON.parse(logLines.slice(before).at(-1)!);
    expect(line).toMatchObject({ event: "request", endpoint: "completions", status: 200, prompt_tokens: seq.input_ids.length, completion_tokens: 4, finish_reason: "length" });
    expect(line.id).toMatch(/^cmpl-/);
    expect(line.ttft_ms).toBeGreaterThan(0);
    expect(line.duration_ms).toBeGreaterThanOrEqual(line.ttft_ms);
  });
});

describe("bench-serve load generator", () => {
  test("percentiles are nearest-rank", () => {
    const xs = Array.from({ length: 100 }, (_, i) => 100 - i); // 1 … 100, unsorted
    expect(percentiles(xs)).toEqual({ p50: 50, p90: 90, p99: 99, max: 100, mean: 50.5 });
    expect(percentiles([7])).toEqual({ p50: 7, p90: 7, p99: 7, max: 7, mean: 7 });
  });

  test("a run against the server: every request streamed to the end, tokens counted from usage", async () => {
    const r = await runLoad({ url: base, concurrency: 2, promptTokens: 20, maxTokens: 5, requests: 4, seed: 1 });
    expect(r).toMatchObject({ model: ID, requests: 4, errors: 0, outputTokens: 20 });
    expect(r.ttftMs.p50).toBeGreaterThan(0);
    expect(r.itlMs.p50).toBeGreaterThan(0);
    const bad = await runLoad({ url: base, model: "nope", concurrency: 1, promptTokens: 5, maxTokens: 2, requests: 1, seed: 1 });
    expect(bad).toMatchObject({ requests: 0, errors: 1 });
    expect(bad.errorSamples[0]).toMatch(/^HTTP 404: /);
    // extraBody reaches the server with every request: an out-of-range logit_bias fails each one
    const extra = await runLoad({ url: base, concurrency: 1, promptTokens: 5, maxTokens: 2, requests: 2, seed: 1, extraBody: { logit_bias: { 5: 200 } } });
    expect(extra).toMatchObject({ requests: 0, errors: 2 });
    expect(extra.errorSamples[0]).toMatch(/^HTTP 400: .*the bias of token 5 must be a number in \[-100, 100\], got 200/);
  });

  test("--shared-prefix: later prompts find the shared ids in the prefix cache; --health-probe times /health during the run", async () => {
    // [BOS, 32 shared ids, 7 seeded ids]: the cache reuses whole 16-token blocks of the 33 shared tokens.
    const r = await runLoad({ url: base, concurrency: 1, promptTokens: 40, maxTokens: 2, requests: 3, seed: 3, sharedPrefix: 32, healthProbeMs: 5 });
    expect(r).toMatchObject({ requests: 3, errors: 0, healthFailures: 0 });
    expect(r.cachedTokens.p50).toBe(32);
    expect(r.firstTtftMs).toBeGreaterThan(0);
    expect(r.healthMs!.p50).toBeGreaterThan(0);
    await expect(runLoad({ url: base, concurrency: 1, promptTokens: 10, maxTokens: 2, requests: 1, seed: 1, sharedPrefix: 9 }))
      .rejects.toThrow(/--shared-prefix 9: expected fewer ids than --prompt-tokens - 1 \(9\)/);
  });
});

