// The engine-worker protocol: the typed messages between a thin client (the HTTP server's thread, a web
// page) and the engine host running the model in a worker (a Node worker_thread or a browser Web Worker).
// One protocol for both hosts; messages are plain structured-cloneable objects. Every request carries an
// id chosen by the client; every answer and event carries the id of the request it belongs to.
//
//   client -> host: load, tokenize, generate, train, abort, stats, dispose
//   host -> client: ready (once, unsolicited), progress, loaded, tokens, started, delta, done, trainStart,
//                   trainStep, trained, stats, error (one request failed), fatal (the engine is unusable:
//                   every request in flight failed)
//
// A generation streams `started` (admitted to a batch slot; prompt and cached token counts), `prefill` after
// each engine step that advanced its prompt (tokens in the cache of the prompt's total), then `delta`
// events (text and token ids, in order), then exactly one `done` (its Completion) or `error`. An `abort`
// ends it with `done` and finishReason "abort" within one run of engine steps (up to 5 ms of steps, or one
// longer step). With `streamIntervalMs`, deltas come at most that often (the first at once), each with the
// text and ids of every token since the previous one; what is held goes out before `done` or `error`.
//
// A fine-tuning run (`train`: a LoRA adapter on the loaded model, train/lora_session.ts) streams `trainStart`
// (what the data became), a `trainStep` per optimizer step, then one `trained` with the adapter's PEFT files;
// from then on generate's `adapter` with its name runs on it, unmerged. An `abort` with the run's id stops it
// after the current step: `trained` then carries the adapter as trained so far (stopped: true).

import type { WeightType } from "../io/gguf_quantize.js";
import type { ChatMessage } from "../tokenizer/chat_template.js";
import type { Completion, GenerateOptions as GenerationSettings } from "../generate/generate.js";
import type { SchedulerStats } from "../generate/batch.js";

export const PROTOCOL_VERSION = 1;

/** How the model is loaded: the host's loader interprets these (a browser host may read `model` as a URL). */
export interface LoadOptions {
  /** Convert weights while loading: "f32", "f16", "bf16", "q8_0", "q4_0". */
  dtype?: WeightType;
  /** Hub revision when `model` is a hub id. */
  revision?: string;
  /** Kernels: "auto" (default: the fastest available), "wasm", "ref"; "webgpu" in browsers that have it. */
  backend?: "auto" | "wasm" | "ref" | "webgpu";
  /**
   * Browser hosts: the model's files as the user picked them (File objects are structured-cloned, not
   * copied): one .gguf file, or a model folder's files named "folder/config.json" … When given, `model` is unused.
   */
  files?: Array<{ name: string; data: Blob }>;
  /** Kernel threads including the engine's own. */
  threads?: number;
  /** WASM backend: the quantized kernels' dot-add forms (WasmBackendOptions.dotAdd); default "auto". */
  dotAdd?: boolean | "auto";
  /** Sequences decoded together in one batch (each holds a KV cache); default 4. */
  parallel?: number;
  /** Bytes of KV cache all sequences may hold together; default: parallel full-context caches. */
  kvBudgetBytes?: number;
  /** Prompt tokens prefilled per engine step (chunked prefill, interleaved with decode steps); default 128. */
  prefillChunk?: number;
  /** Requests waiting for a slot before new ones fail with code "server_busy"; default unbounded. */
  maxQueue?: number;
  /**
   * PEFT LoRA / DoRA adapters to serve beside the base model, applied unmerged (generate's `adapter` picks one).
   * `dir`: the adapter directory (Node host); in a browser host the URL of the folder holding its
   * adapter_config.json and adapter_model.safetensors (fetched, and kept in Cache Storage like model files).
   */
  adapters?: Array<{ name: string; dir: string }>;
}

/** A prompt: text (BOS + SentencePiece ids), token ids as given, or a conversation (the chat template). */
export type Prompt = { text: string } | { ids: number[] } | { messages: ChatMessage[] };

/** Sampling and stopping, as generate() takes them (no signal: send `abort`; no cache: the engine owns them). */
export type GenerateOptions = Pick<GenerationSettings, "maxNewTokens" | "temperature" | "topK" | "topP" | "minP" |
  "repetitionPenalty" | "presencePenalty" | "frequencyPenalty" | "seed" | "stop" | "ignoreEos" | "logitBias">;

/** A fine-tuning run: LoRA on every Linear, CoreNet's PEFT optimizer settings (train/lora_session.ts). */
export interface TrainOptions {
  steps: number;
  /** LoRA rank; alpha defaults to 2·r. */
  r: number;
  alpha?: number;
  /** Peak learning rate (cosine decay to a tenth). */
  lr: number;
  batchSize?: number;
  /** Longest training sequence (default 128). */
  contextLength?: number;
  seed?: number;
  /** The adapter's name for generate (default "fine-tuned"); a run replaces the adapter of that name. */
  name?: string;
}

/** What the training data became. */
export interface TrainStart {
  format: "text" | "sft";
  examples: number;
  tokens: number;
  /** Sequences of seqLen tokens in one pass; batch of them a step. */
  sequences: number;
  seqLen: number;
  batch: number;
  trainableParams: number;
}

/** One optimizer step. */
export interface TrainStep { step: number; steps: number; loss: number; lr: number; gradNorm: number; tokensPerS: number }

/** The end of a run: the adapter generate can now use, and its PEFT files (adapter_config.json, adapter_model.safetensors). */
export interface TrainResult {
  adapter: string;
  steps: number;
  stopped: boolean;
  files: Array<{ name: string; data: Uint8Array }>;
}

/** What a loaded model is, for the client. */
export interface ModelInfo {
  name: string;
  contextLength: number;
  vocabSize: number;
  eosId: number;
  /** Kernel backend name ("wasm", "wasm-relaxed", "ref"). */
  backend: string;
  /** Batch slots and KV budget in effect. */
  parallel: number;
  kvBudgetBytes: number;
  /** Bytes of memory the backend holds (weights, buffers, KV caches), when it can tell. */
  memoryBytes?: number;
  /** Names of the adapters loaded beside the base model. */
  adapters?: string[];
}

export type { Completion };

/** Engine counters for metrics: a snapshot at the time of the request. */
export type EngineStats = SchedulerStats;

/** An error as it crosses the boundary: the Error class name (InputError …), its message, and API hints. */
export interface WireError {
  name: string;
  message: string;
  /** "context_length_exceeded", "server_busy", "engine_fault", …; null when none applies. */
  code: string | null;
  /** The request field at fault, when known. */
  param: string | null;
}

export type ClientMessage =
  | { type: "load"; id: number; model?: string; options?: LoadOptions }
  | { type: "tokenize"; id: number; prompt: Prompt }
  | { type: "generate"; id: number; prompt: Prompt; options: GenerateOptions; adapter?: string; streamIntervalMs?: number }
  | { type: "train"; id: number; data: string; options: TrainOptions }
  | { type: "abort"; id: number }
  | { type: "stats"; id: number }
  | { type: "dispose"; id: number };

/** Download / load progress (io/hub.ts ProgressEvent for hub downloads; hosts may send their own phases). */
export interface ProgressInfo {
  phase: string;
  file: string;
  bytes: number;
  total: number;
}

export type HostMessage =
  | { type: "ready"; version: number }
  | { type: "progress"; id: number; progress: ProgressInfo }
  | { type: "loaded"; id: number; model: ModelInfo }
  | { type: "tokens"; id: number; ids: number[] }
  | { type: "started"; id: number; promptTokens: number; cachedPromptTokens: number }
  | { type: "prefill"; id: number; done: number; total: number }
  | { type: "delta"; id: number; text: string; tokens: number[] }
  | { type: "done"; id: number; completion: Completion }
  | { type: "trainStart"; id: number; start: TrainStart }
  | { type: "trainStep"; id: number; step: TrainStep }
  | { type: "trained"; id: number; result: TrainResult }
  | { type: "stats"; id: number; stats: EngineStats }
  | { type: "disposed"; id: number }
  | { type: "error"; id: number; error: WireError }
  | { type: "fatal"; error: WireError };

/**
 * One side of a message channel. Both hosts fit: wrap a Worker, a worker's global scope or a MessagePort
 * with endpointOf; Node worker_threads ports with the adapter in node_worker.ts.
 */
export interface Endpoint {
  postMessage(msg: ClientMessage | HostMessage): void;
  /** Receive messages; returns a function that stops receiving. */
  listen(onMessage: (msg: unknown) => void): () => void;
}

/** An Endpoint over anything with postMessage and addEventListener("message") (browser Worker, self, MessagePort). */
export function endpointOf(port: {
  postMessage(msg: unknown): void;
  addEventListener(type: "message", fn: (e: { data: unknown }) => void): void;
  removeEventListener(type: "message", fn: (e: { data: unknown }) => void): void;
  start?(): void;
}): Endpoint {
  return {
    postMessage: (msg) => port.postMessage(msg),
    listen(onMessage) {
      const fn = (e: { data: unknown }) => onMessage(e.data);
      port.addEventListener("message", fn);
      port.start?.(); // MessagePorts deliver only once started
      return () => port.removeEventListener("message", fn);
    },
  };
}

/** An Error to its wire form. */
export function toWireError(e: unknown): WireError {
  if (e instanceof Error) {
    const x = e as Error & { code?: unknown; param?: unknown; option?: unknown };
    const param = typeof x.param === "string" ? x.param : typeof x.option === "string" ? x.option : null; // OptionError names its option
    return { name: e.name, message: e.message, code: typeof x.code === "string" ? x.code : null, param };
  }
  return { name: "Error", message: String(e), code: null, param: null };
}

/** A wire error back to an Error with the same name, code and param. */
export class EngineError extends Error {
  readonly code: string | null;
  readonly param: string | null;
  constructor(w: WireError) {
    super(w.message);
    this.name = w.name;
    this.code = w.code;
    this.param = w.param;
  }
}
