// An OpenAI-compatible HTTP server over an engine running in a worker (src/worker: the protocol, the
// engine host and its continuous-batching scheduler), on Node's http module, no framework:
//   GET /v1/models, GET /v1/models/{id}, POST /v1/completions, POST /v1/chat/completions, GET /health,
//   GET /metrics (Prometheus text).
// Streaming answers are server-sent events (`data: {chunk}\n\n` … `data: [DONE]\n\n`) shaped like
// OpenAI's text_completion / chat.completion.chunk objects. This thread only parses, queues and streams:
// the model never runs on it, so /health and new connections are answered while a prompt is prefilled.
// A closed connection aborts its generation (within one run of engine steps: up to 5 ms, or one longer step). One log line (JSON) per request.

import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { EngineHandle } from "../worker/node_engine.js";
import type { Completion, Prompt } from "../worker/protocol.js";
import { ApiError } from "./api_error.js";
import { ServerMetrics } from "./metrics.js";
import { parseRequest, type Endpoint, type ParsedRequest } from "./request.js";
import { logitBiasEntries, OptionError } from "../generate/options.js";

export interface ServerOptions {
  /** The id clients pass as `model` and GET /v1/models lists. */
  modelId: string;
  /** Largest request body accepted, in bytes; default 1 MiB (413 beyond). */
  maxBodyBytes?: number;
  /** A client must send its request headers within this many ms (408 after); default 10 s. */
  headersTimeoutMs?: number;
  /** … and its whole request (headers and body) within this many ms; default 30 s. */
  requestTimeoutMs?: number;
  /** Where the per-request log lines go (one JSON object a line); default nowhere. */
  log?: (line: string) => void;
}

/** Model ids served: the base, and "MODEL_ID:NAME" for each adapter the engine loaded (null: the base). */
function servedModels(modelId: string, adapters: string[] = []): Map<string, string | null> {
  return new Map<string, string | null>([[modelId, null], ...adapters.map((a): [string, string] => [`${modelId}:${a}`, a])]);
}

export interface OpenAIServer {
  readonly server: Server;
  readonly metrics: ServerMetrics;
  /** Start listening; resolves to the bound address. */
  listen(port: number, host: string): Promise<AddressInfo>;
  /** Stop accepting, let in-flight requests finish, then close (SIGTERM). */
  drain(): Promise<void>;
  /** Connections being answered; generations holding a batch slot / waiting for one. */
  stats(): { active: number; queued: number; running: number };
}

type FinishReasonOut = "stop" | "length";

export function createOpenAIServer(engine: EngineHandle, opts: ServerOptions): OpenAIServer {
  const maxBody = opts.maxBodyBytes ?? 1 << 20;
  const created = Math.floor(Date.now() / 1000);
  const metrics = new ServerMetrics();
  const models = servedModels(opts.modelId, engine.info.adapters);
  const log = opts.log ?? (() => {});
  let draining = false;
  let active = 0, queued = 0, running = 0;

  const server = createServer({
    headersTimeout: opts.headersTimeoutMs ?? 10_000,
    requestTimeout: opts.requestTimeoutMs ?? 30_000,
    // how often those timeouts are checked (Node's default, 30 s, would let a trickling client stay that long)
    connectionsCheckingInterval: Math.max(50, Math.min(opts.headersTimeoutMs ?? 10_000, opts.requestTimeoutMs ?? 30_000) / 4),
  }, (req, res) => {
    active++;
    res.on("close", () => {
      active--;
      if (draining) server.closeIdleConnections();
    });
    if (draining) res.setHeader("connection", "close");
    route(req, res).catch((e) => sendError(res, toApiError(e)));
  });

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?")[0].replace(/\/+$/, "") || "/";
    const method = req.method ?? "GET";
    if (path === "/health") {
      requireMethod(method, "GET");
      return sendJson(res, draining ? 503 : 200, { status: draining ? "draining" : "ok", model: opts.modelId, running, queued });
    }
    if (path === "/metrics") {
      requireMethod(method, "GET");
      const stats = await engine.client().then((c) => c.stats()).catch(() => null);
      const text = metrics.render(stats, engine.restarts ?? 0);
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8", "content-length": Buffer.byteLength(text) });
      res.end(text);
      return;
    }
    if (path === "/v1/models") {
      requireMethod(method, "GET");
      return sendJson(res, 200, { object: "list", data: [...models.keys()].map(modelCard) });
    }
    if (path.startsWith("/v1/models/")) {
      requireMethod(method, "GET");
      const id = decodeURIComponent(path.slice("/v1/models/".length));
      if (!models.has(id)) throw modelNotFound(id, models.size);
      return sendJson(res, 200, modelCard(id));
    }
    const endpoint: Endpoint | undefined = path === "/v1/completions" ? "completions" : path === "/v1/chat/completions" ? "chat" : undefined;
    if (!endpoint) throw new ApiError(404, `no route ${method} ${path} (see GET /v1/models, POST /v1/completions, POST /v1/chat/completions, GET /health, GET /metrics)`, null, "not_found");
    requireMethod(method, "POST");
    if (draining) throw new ApiError(503, "the server is shutting down", null, "server_shutting_down");
    const arrived = performance.now();
    const body = await readJson(req, maxBody);
    const p = parseRequest(body, endpoint);
    await complete(p, endpoint, res, arrived).catch((e) => {
      const err = toApiError(e);
      metrics.requests.inc(1, { finish_reason: "error", code: err.code ?? String(err.status) });
      log(JSON.stringify({ event: "request", endpoint, status: err.status, error: err.code ?? err.message }));
      throw err;
    });
  }

  function modelCard(id: string) {
    return { id, object: "model", created, owned_by: "openelm-ts", context_length: engine.info.contextLength };
  }

  async function complete(p: ParsedRequest, endpoint: Endpoint, res: ServerResponse, arrived: number): Promise<void> {
    const adapter = models.get(p.model);
    if (adapter === undefined) throw modelNotFound(p.model, models.size);
    if (p.options.logitBias) { // its ids against this model's vocabulary (the rest was checked with the body)
      try { logitBiasEntries(p.options.logitBias, engine.info.vocabSize, "logit_bias"); } catch (e) {
        if (e instanceof OptionError) throw new ApiError(400, e.message, e.option);
        throw e;
      }
    }
    const client = await engine.client();
    const prompt: Prompt = p.messages ? { messages: p.messages } : typeof p.prompt === "string" ? { text: p.prompt } : { ids: p.prompt! };
    const ids = await client.tokenize(prompt);
    const ctx = engine.info.contextLength;
    const maxTokens = p.maxTokens ?? ctx - ids.length;
    if (ids.length + maxTokens > ctx || maxTokens < 0 || ids.length >= ctx) {
      const what = endpoint === "chat" ? "messages" : "prompt";
      throw new ApiError(400, `This model's maximum context length is ${ctx} tokens. However, you requested ${ids.length + Math.max(maxTokens, 0)} tokens (${ids.length} in the ${what}, ${Math.max(maxTokens, 0)} in the completion). Please reduce the length of the ${what} or completion.`,
        p.maxTokens === undefined ? what : "max_tokens", "context_length_exceeded");
    }

    // A closed connection (client gone) aborts the generation, or its place in the line.
    const ac = new AbortController();
    res.on("close", () => { if (!res.writableFinished) ac.abort(); });
    const id = `${endpoint === "chat" ? "chatcmpl" : "cmpl"}-${randomUUID().replace(/-/g, "")}`;
    let started = false;
    queued++;
    const gen = client.generate({ ids }, { ...p.options, maxNewTokens: maxTokens }, {
      signal: ac.signal,
      ...(adapter !== null ? { adapter } : {}),
      onStart: () => { started = true; queued--; running++; },
    });
    let first = 0, last = 0;
    const onToken = (n: number) => {
      const now = performance.now();
      if (n === 0) return;
      if (first === 0) { first = now; metrics.ttft.observe((now - arrived) / 1000); } else metrics.itl.observe((now - last) / 1000);
      last = now;
    };
    try {
      const now = Math.floor(Date.now() / 1000);
      const object = endpoint === "chat" ? (p.stream ? "chat.completion.chunk" : "chat.completion") : "text_completion";
      const head = { id, object, created: now, model: p.model };
      let c: Completion;
      if (!p.stream) {
        for await (const d of gen) onToken(d.tokens.length);
        c = await gen.result;
        if (c.finishReason === "abort") return;
        const choice = endpoint === "chat"
          ? { index: 0, message: { role: "assistant", content: c.text }, logprobs: null, finish_reason: finishReason(c) }
          : { index: 0, text: c.text, logprobs: null, finish_reason: finishReason(c) };
        sendJson(res, 200, { ...head, choices: [choice], usage: usage(c) });
      } else {
        // Errors before the first token (a full queue, a bad option) still get their HTTP status.
        const it = gen[Symbol.asyncIterator]();
        const firstStep = await it.next();
        res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: draining ? "close" : "keep-alive" });
        res.flushHeaders();
        const extra = p.includeUsage ? { usage: null } : {};
        const chunk = (delta: string | null, finish: FinishReasonOut | null, first = false) => endpoint === "chat"
          ? { ...head, choices: [{ index: 0, delta: delta === null ? {} : first ? { role: "assistant", content: delta } : { content: delta }, logprobs: null, finish_reason: finish }], ...extra }
          : { ...head, choices: [{ index: 0, text: delta ?? "", logprobs: null, finish_reason: finish }], ...extra };
        if (endpoint === "chat") sse(res, chunk("", null, true));
        try {
          for (let step = firstStep; !step.done; step = await it.next()) {
            onToken(step.value.tokens.length);
            if (step.value.text) sse(res, chunk(step.value.text, null));
          }
        } catch (e) {
          sse(res, toApiError(e).toJSON());
          res.end("data: [DONE]\n\n");
          throw e;
        }
        c = await gen.result;
        if (c.finishReason === "abort" || res.destroyed) return;
        sse(res, chunk(null, finishReason(c)));
        if (p.includeUsage) sse(res, { ...head, choices: [], usage: usage(c) });
        res.end("data: [DONE]\n\n");
      }
      const end = performance.now();
      metrics.requests.inc(1, { finish_reason: finishReason(c) });
      metrics.promptTokens.inc(c.promptTokens);
      metrics.cachedTokens.inc(c.cachedPromptTokens);
      metrics.generationTokens.inc(c.completionTokens);
      metrics.duration.observe((end - arrived) / 1000);
      log(JSON.stringify({ event: "request", id, endpoint, status: 200, prompt_tokens: c.promptTokens, cached_tokens: c.cachedPromptTokens,
        completion_tokens: c.completionTokens, ttft_ms: first ? round(first - arrived) : null, duration_ms: round(end - arrived),
        finish_reason: c.finishReason }));
    } finally {
      if (started) running--; else queued--;
      if (!res.writableFinished) gen.abort();
    }
  }

  return {
    server,
    metrics,
    listen: (port, host) => new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => { server.off("error", reject); resolve(server.address() as AddressInfo); });
    }),
    drain: () => new Promise<void>((resolve) => {
      draining = true;
      server.close(() => resolve()); // stops accepting; resolves once every connection has ended
      server.closeIdleConnections();
    }),
    stats: () => ({ active, queued, running }),
  };
}

const round = (ms: number) => Math.round(ms * 10) / 10;

function finishReason(c: Completion): FinishReasonOut {
  return c.finishReason === "length" ? "length" : "stop"; // "eos" and "stop" are both OpenAI's "stop"
}

function usage(c: Completion) {
  return { prompt_tokens: c.promptTokens, completion_tokens: c.completionTokens, total_tokens: c.promptTokens + c.completionTokens,
    // prompt tokens whose KV entries were reused from the previous request on the same cache
    prompt_tokens_details: { cached_tokens: c.cachedPromptTokens } };
}

function sse(res: ServerResponse, obj: unknown): void {
  if (!res.destroyed) res.write(`data: ${JSON.stringify(obj)}\n\n`);
}

function requireMethod(method: string, want: string): void {
  if (method !== want) throw new ApiError(405, `method ${method} not allowed here; use ${want}`, null, "method_not_allowed");
}

function modelNotFound(id: string, served: number): ApiError {
  return new ApiError(404, `The model \`${id}\` does not exist (${served === 1 ? "this server serves one model; " : ""}see GET /v1/models)`, "model", "model_not_found");
}

/** Read the body as JSON: 413 past maxBytes (also from Content-Length up front), 400 for bad JSON. */
async function readJson(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const tooLarge = () => new ApiError(413, `request body too large: the limit is ${maxBytes} bytes`, null, "request_too_large");
  const declared = Number(req.headers["content-length"] ?? NaN);
  if (declared > maxBytes) throw tooLarge();
  const text = await new Promise<string>((resolve, reject) => {
    const parts: Buffer[] = [];
    let n = 0;
    const onData = (chunk: Buffer) => {
      n += chunk.length;
      if (n <= maxBytes) { parts.push(chunk); return; }
      // Stop reading but keep the socket: the 413 answer goes out, then the connection closes.
      req.off("data", onData);
      req.pause();
      reject(tooLarge());
    };
    req.on("data", onData);
    req.once("end", () => resolve(Buffer.concat(parts).toString("utf8")));
    req.once("error", reject);
  });
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ApiError(400, `We could not parse the JSON body of your request. (${(e as Error).message})`, null, "invalid_json");
  }
}

/** Errors from the engine by their code (EngineError carries the host's name, code and param). */
function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  const x = e as { name?: string; message?: string; code?: string | null; param?: string | null };
  if (x?.code === "server_busy") return new ApiError(503, x.message!, null, "server_busy");
  if (x?.code === "engine_fault") return new ApiError(500, x.message!, null, "engine_fault");
  if (x?.code === "context_length_exceeded") return new ApiError(400, x.message!, x.param ?? null, "context_length_exceeded");
  if (x?.name && /^(InputError|TokenizerError|OpenELMError)$/.test(x.name)) return new ApiError(400, x.message!, x.param ?? null); // bad input that reached the engine
  return new ApiError(500, `internal error: ${e instanceof Error ? e.message : String(e)}`, null, "internal_error");
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) { res.end(); return; }
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: ServerResponse, e: ApiError): void {
  if (res.headersSent) { res.end(); return; }
  // A body we stopped reading (413) leaves the connection in an unknown state: close it after answering.
  if (e.status === 413) res.setHeader("connection", "close");
  sendJson(res, e.status, e.toJSON());
}
