// Validation of OpenAI /v1/completions and /v1/chat/completions request bodies into engine options.
// Field names and defaults follow the OpenAI API reference (temperature 1, top_p 1, max_tokens 16 for
// completions, up to the context for chat). Extensions, as llama.cpp / vLLM name them: repetition_penalty
// (HF's, Apple's examples use 1.2), top_k, min_p, ignore_eos. Unknown fields are ignored, so clients that
// send newer or vendor-specific fields keep working; known fields with a wrong type or a value we cannot
// honour are rejected with 400 naming the field.

import type { ChatMessage } from "../engine.js";
import type { GenerationOptions } from "../engine.js";
import { API_NAMES, OptionError, validateGenerationOptions } from "../generate/options.js";
import { ApiError } from "./api_error.js";

export type Endpoint = "completions" | "chat";

export interface ParsedRequest {
  model: string;
  /** completions: text or token ids; chat: the messages. */
  prompt?: string | number[];
  messages?: ChatMessage[];
  stream: boolean;
  includeUsage: boolean;
  /** Explicit max_tokens, if given (checked against the context once the prompt is tokenised). */
  maxTokens?: number;
  options: Omit<GenerationOptions, "maxNewTokens" | "signal">;
}

type Check = (v: unknown, name: string) => void;

const bool: Check = (v, name) => {
  if (typeof v !== "boolean") throw new ApiError(400, `${name}: expected true or false, got ${JSON.stringify(v)}`, name);
};
const str: Check = (v, name) => {
  if (typeof v !== "string") throw new ApiError(400, `${name}: expected a string, got ${JSON.stringify(v)}`, name);
};
const any: Check = () => {};
/** Accepted only at the value that means "off", since we cannot do anything else. */
const only = (ok: (v: unknown) => boolean, what: string): Check => (v, name) => {
  if (!ok(v)) throw new ApiError(400, `${name}: not supported by this server (${what})`, name);
};

const COMMON: Record<string, Check> = {
  model: str,
  stream: bool,
  stream_options: any,
  // The sampling fields are checked by the shared rule (generate/options.ts) once they are read below.
  max_tokens: any,
  temperature: any,
  top_p: any,
  n: only((v) => v === 1 || v === null, "only n = 1"),
  stop: any,
  seed: any,
  presence_penalty: any,
  frequency_penalty: any,
  logit_bias: any,
  logprobs: only((v) => v === null || v === false || v === undefined, "no logprobs"),
  user: str,
  // extensions (llama.cpp / vLLM spelling)
  repetition_penalty: any,
  top_k: any,
  min_p: any,
  ignore_eos: any,
};

const FIELDS: Record<Endpoint, Record<string, Check>> = {
  completions: {
    ...COMMON,
    prompt: any,
    echo: only((v) => v === false || v === null, "echo must be false"),
    best_of: only((v) => v === 1 || v === null, "only best_of = 1"),
    suffix: only((v) => v === null || v === "", "no suffix / insertion"),
  },
  chat: {
    ...COMMON,
    messages: any,
    max_completion_tokens: any,
    top_logprobs: only((v) => v === null || v === 0, "no logprobs"),
    response_format: only((v) => v === null || (typeof v === "object" && (v as { type?: unknown }).type === "text"), 'only {"type": "text"}'),
    tools: only((v) => v === null || (Array.isArray(v) && v.length === 0), "no tools"),
    tool_choice: only((v) => v === null || v === "none", "no tools"),
    parallel_tool_calls: any,
    store: any,
    metadata: any,
  },
};

/** Check a parsed JSON body; throws ApiError 400 naming the field. */
export function parseRequest(body: unknown, endpoint: Endpoint): ParsedRequest {
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw new ApiError(400, "the request body must be a JSON object");
  const b = body as Record<string, unknown>;
  const fields = FIELDS[endpoint];
  for (const [k, v] of Object.entries(b)) {
    const check = fields[k];
    if (check && v !== null && v !== undefined) check(v, k);
  }
  if (typeof b.model !== "string") throw new ApiError(400, "model: required (a string; see GET /v1/models)", "model");

  const stop = b.stop ?? undefined;
  let stops: string[] | undefined;
  if (typeof stop === "string") stops = [stop];
  else if (Array.isArray(stop) && stop.length <= 4 && stop.every((s) => typeof s === "string")) stops = stop as string[];
  else if (stop !== undefined) throw new ApiError(400, "stop: expected a string or an array of up to 4 strings", "stop");

  const so = b.stream_options;
  if (so !== undefined && so !== null && (typeof so !== "object" || Object.keys(so).some((k) => k !== "include_usage")))
    throw new ApiError(400, 'stream_options: expected {"include_usage": boolean}', "stream_options");
  if (so && !b.stream) throw new ApiError(400, "stream_options: only allowed when stream is true", "stream_options");

  const maxTokens = (b.max_completion_tokens ?? b.max_tokens ?? undefined) as number | undefined;
  const out: ParsedRequest = {
    model: b.model,
    stream: b.stream === true,
    includeUsage: (so as { include_usage?: unknown } | undefined)?.include_usage === true,
    maxTokens: maxTokens ?? (endpoint === "completions" ? 16 : undefined),
    options: {
      temperature: (b.temperature ?? 1) as number,
      topP: (b.top_p ?? 1) as number,
      topK: (b.top_k ?? 0) as number,
      minP: (b.min_p ?? 0) as number,
      seed: (b.seed ?? undefined) as number | undefined,
      stop: stops,
      presencePenalty: (b.presence_penalty ?? 0) as number,
      frequencyPenalty: (b.frequency_penalty ?? 0) as number,
      repetitionPenalty: (b.repetition_penalty ?? 1) as number,
      ignoreEos: (b.ignore_eos ?? false) as boolean,
      logitBias: (b.logit_bias ?? undefined) as Record<string, number> | undefined,
    },
  };

  try {
    validateGenerationOptions({ ...out.options, maxNewTokens: out.maxTokens },
      { ...API_NAMES, maxNewTokens: b.max_completion_tokens !== undefined ? "max_completion_tokens" : "max_tokens" });
  } catch (e) {
    if (e instanceof OptionError) throw new ApiError(400, e.message, e.option);
    throw e;
  }

  if (endpoint === "completions") {
    const p = b.prompt;
    if (typeof p === "string") out.prompt = p;
    else if (Array.isArray(p) && p.length === 1 && typeof p[0] === "string") out.prompt = p[0];
    else if (Array.isArray(p) && p.length > 0 && p.every((x) => Number.isInteger(x) && (x as number) >= 0)) out.prompt = p as number[];
    else if (Array.isArray(p) && p.length > 1) throw new ApiError(400, "prompt: only one prompt per request", "prompt");
    else throw new ApiError(400, "prompt: required (a string or an array of token ids)", "prompt");
  } else {
    out.messages = parseMessages(b.messages);
  }
  return out;
}

function parseMessages(m: unknown): ChatMessage[] {
  if (!Array.isArray(m) || m.length === 0) throw new ApiError(400, "messages: required (a non-empty array)", "messages");
  return m.map((x, i): ChatMessage => {
    const p = `messages[${i}]`;
    if (typeof x !== "object" || x === null) throw new ApiError(400, `${p}: expected an object {role, content}`, p);
    const { role, content, name } = x as Record<string, unknown>; // other fields are ignored
    if (name !== undefined && typeof name !== "string") throw new ApiError(400, `${p}.name: expected a string`, `${p}.name`);
    // "developer" is OpenAI's newer name for the system role.
    const r = role === "developer" ? "system" : role;
    if (r !== "system" && r !== "user" && r !== "assistant")
      throw new ApiError(400, `${p}.role: expected "system", "user" or "assistant", got ${JSON.stringify(role)}`, `${p}.role`);
    let text: string;
    if (typeof content === "string") text = content;
    else if (Array.isArray(content) && content.every((c) => c && c.type === "text" && typeof c.text === "string"))
      text = content.map((c) => c.text).join("");
    else throw new ApiError(400, `${p}.content: expected a string or an array of {"type": "text", "text": ...} parts`, `${p}.content`);
    return { role: r, content: text };
  });
}
