// An OpenAI-compatible HTTP server over one loaded Model (Node's http module, no framework):
//   GET /v1/models, GET /v1/models/{id}, POST /v1/completions, POST /v1/chat/completions, GET /health.
// Streaming answers are server-sent events (`data: {chunk}\n\n` … `data: [DONE]\n\n`) shaped like
// OpenAI's text_completion / chat.completion.chunk objects. No model logic here: requests become
// engine calls (engine.ts); admission is a SlotQueue; a closed connection aborts its generation.

import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Completion, Model } from "../engine.js";
import { OpenELMError } from "../errors.js";
import { ApiError } from "./api_error.js";
import { parseRequest, type Endpoint, type ParsedRequest } from "./request.js";
import { SlotQueue } from "./slot_queue.js";

export interface ServerOptions {
  /** The id clients pass as `model` and GET /v1/models lists. */
  modelId: string;
  /** Generations running at once (each holds a KV cache); default 4. */
  parallel?: number;
  /** Requests allowed to wait for a slot before 503; default 64. */
  maxQueue?: number;
  /** Largest request body accepted, in bytes; default 1 MiB (413 beyond). */
  maxBodyBytes?: number;
  /**
   * Adapter views of the same base (OpenELMModel.withAdapter), by name: a request for model "MODEL_ID:NAME" runs
   * on that view. They share the base's weights and take the same slots.
   */
  adapters?: Map<string, Model>;
}

export interface OpenAIServer {
  readonly server: Server;
  /** Start listening; resolves to the bound address. */
  listen(port: number, host: string): Promise<AddressInfo>;
  /** Stop accepting, let in-flight requests finish, then close (SIGTERM). */
  drain(): Promise<void>;
  /** Requests being answered / waiting for a slot. */
  stats(): { active: number; queued: number; running: number };
}

type FinishReasonOut = "stop" | "length";

export function createOpenAIServer(base: Model, opts: ServerOptions): OpenAIServer {
  const models = new Map<string, Model>([[opts.modelId, base]]);
  for (const [name, m] of opts.adapters ?? []) models.set(`${opts.modelId}:${name}`, m);
  const slots = new SlotQueue(opts.parallel ?? 4, opts.maxQueue ?? 64);
  const maxBody = opts.maxBodyBytes ?? 1 << 20;
  const created = Math.floor(Date.now() / 1000);
  let draining = false;
  let active = 0;

  const server = createServer((req, res) => {
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
      return sendJson(res, draining ? 503 : 200, { status: draining ? "draining" : "ok", model: opts.modelId, running: slots.running, queued: slots.queued });
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
    if (!endpoint) throw new ApiError(404, `no route ${method} ${path} (see GET /v1/models, POST /v1/completions, POST /v1/chat/completions, GET /health)`, null, "not_found");
    requireMethod(method, "POST");
    if (draining) throw new ApiError(503, "the server is shutting down", null, "server_shutting_down");
    const body = await readJson(req, maxBody);
    await complete(parseRequest(body, endpoint), endpoint, res);
  }

  function modelCard(id: string) {
    return { id, object: "model", created, owned_by: "openelm-ts", context_length: models.get(id)!.contextLength };
  }

  async function complete(p: ParsedRequest, endpoint: Endpoint, res: ServerResponse): Promise<void> {
    const model = models.get(p.model);
    if (!model) throw modelNotFound(p.model, models.size);
    const ids = p.messages ? model.encodeChat(p.messages) : typeof p.prompt === "string" ? model.encode(p.prompt) : p.prompt!;
    const V = model.config.vocab_size;
    const bad = ids.findIndex((t) => t >= V);
    if (bad >= 0) throw new ApiError(400, `prompt: token id ${ids[bad]} at index ${bad} is out of range (vocabulary 0 … ${V - 1})`, "prompt");
    const ctx = model.contextLength;
    const maxTokens = p.maxTokens ?? ctx - ids.length;
    if (ids.length + maxTokens > ctx || maxTokens < 0 || ids.length >= ctx) {
      const what = endpoint === "chat" ? "messages" : "prompt";
      throw new ApiError(400, `This model's maximum context length is ${ctx} tokens. However, you requested ${ids.length + Math.max(maxTokens, 0)} tokens (${ids.length} in the ${what}, ${Math.max(maxTokens, 0)} in the completion). Please reduce the length of the ${what} or completion.`,
        p.maxTokens === undefined ? what : "max_tokens", "context_length_exceeded");
    }

    // A closed connection (client gone) aborts the generation, or its place in the line.
    const ac = new AbortController();
    res.on("close", () => { if (!res.writableFinished) ac.abort(); });
    const slot = slots.acquire(ac.signal);
    if (slot === "full") throw new ApiError(503, `the server is busy (${slots.queued} requests waiting); retry later`, null, "server_busy");
    const release = await slot;
    if (!release) return; // the client left while waiting
    try {
      const gen = model.run(ids, { ...p.options, maxNewTokens: maxTokens, signal: ac.signal });
      const id = `${endpoint === "chat" ? "chatcmpl" : "cmpl"}-${randomUUID().replace(/-/g, "")}`;
      const now = Math.floor(Date.now() / 1000);
      const object = endpoint === "chat" ? (p.stream ? "chat.completion.chunk" : "chat.completion") : "text_completion";
      const head = { id, object, created: now, model: p.model };
      if (!p.stream) {
        const c = await gen.result;
        if (c.finishReason === "abort") return;
        const choice = endpoint === "chat"
          ? { index: 0, message: { role: "assistant", content: c.text }, logprobs: null, finish_reason: finishReason(c) }
          : { index: 0, text: c.text, logprobs: null, finish_reason: finishReason(c) };
        return sendJson(res, 200, { ...head, choices: [choice], usage: usage(c) });
      }
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: draining ? "close" : "keep-alive" });
      res.flushHeaders();
      const extra = p.includeUsage ? { usage: null } : {};
      const chunk = (delta: string | null, finish: FinishReasonOut | null, first = false) => endpoint === "chat"
        ? { ...head, choices: [{ index: 0, delta: delta === null ? {} : first ? { role: "assistant", content: delta } : { content: delta }, logprobs: null, finish_reason: finish }], ...extra }
        : { ...head, choices: [{ index: 0, text: delta ?? "", logprobs: null, finish_reason: finish }], ...extra };
      if (endpoint === "chat") sse(res, chunk("", null, true));
      try {
        for await (const piece of gen) sse(res, chunk(piece, null));
      } catch (e) {
        sse(res, toApiError(e).toJSON());
        res.end("data: [DONE]\n\n");
        return;
      }
      const c = await gen.result;
      if (c.finishReason === "abort" || res.destroyed) return;
      sse(res, chunk(null, finishReason(c)));
      if (p.includeUsage) sse(res, { ...head, choices: [], usage: usage(c) });
      res.end("data: [DONE]\n\n");
    } finally {
      release();
    }
  }

  return {
    server,
    listen: (port, host) => new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => { server.off("error", reject); resolve(server.address() as AddressInfo); });
    }),
    drain: () => new Promise<void>((resolve) => {
      draining = true;
      server.close(() => resolve()); // stops accepting; resolves once every connection has ended
      server.closeIdleConnections();
    }),
    stats: () => ({ active, queued: slots.queued, running: slots.running }),
  };
}

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

function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  if (e instanceof OpenELMError) return new ApiError(400, e.message); // bad input that reached the engine
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
