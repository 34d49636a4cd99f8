// The library entry point that the CLI, the server and (later) the browser use:
//   const model = await loadModel("apple/OpenELM-270M-Instruct");
//   for await (const piece of model.generate("Once upon a time", { maxNewTokens: 32 })) ...
//   const reply = await model.chat([{ role: "user", content: "Hi" }]);
// It wires the hub cache (io/hub), the checkpoint loader (models/load), the tokenizer and chat template
// and the token generator (generate/) together; it holds no global state: everything lives on the Model.
// Shape of the API after transformers.js / web-llm (an engine object with streaming generate and chat).

import * as fs from "node:fs";
import { InputError } from "./errors.js";
import { generate, type Completion, type FinishReason, type GenerateOptions, type GenerateResult, type GenerateStep } from "./generate/generate.js";
import { validateGenerationOptions } from "./generate/options.js";
import { defaultReplyTokens, fitConversation } from "./generate/context_window.js";
import { isRepoId, resolveModelDir, hubSettingsFromEnv, type HubSettings, type ProgressEvent } from "./io/hub.js";
import type { Backend } from "./kernels/backend.js";
import { createBackend, type BackendName } from "./kernels/select.js";
import type { OpenELMConfig } from "./models/config.js";
import type { KVCache } from "./models/kv_cache.js";
import { openCheckpoint, type WeightDType } from "./models/load.js";
import { openAdapter } from "./models/adapter.js";
import { defaultModelDir, embeddedModel } from "./models/registry.js";
import type { OpenELMModel } from "./models/openelm.js";
import { encodeChatPrompt, readChatTemplate, renderChat, validateMessages, type ChatMessage } from "./tokenizer/chat_template.js";
import { checkpointTokenizer, loadTokenizer, Tokenizer } from "./tokenizer/sentencepiece.js";

export type { ChatMessage, ChatRole } from "./tokenizer/chat_template.js";
export type { FinishReason } from "./generate/generate.js";

export interface LoadModelOptions {
  /**
   * Compute backend: "auto" (default: the WASM kernels, relaxed SIMD where the runtime has it; the
   * reference backend with a warning if they cannot load), "wasm", "ref", "webgpu", or a Backend object.
   */
  backend?: BackendName | Backend;
  /** Worker threads of the WASM backend (default: all cores). */
  threads?: number;
  /** Told when "auto" falls back to a slower backend (default: console.warn). */
  onWarning?: (message: string) => void;
  /** Convert the weights while loading (e.g. "q8_0" to quantize). */
  dtype?: WeightDType;
  /** Hub revision (branch, tag, commit) when loading by repository id; default "main". */
  revision?: string;
  /** Hub endpoint, token, cache directory, offline flag; default: from HF_* environment variables. */
  hub?: Partial<HubSettings>;
  /** Download progress when the model is not cached yet. */
  onProgress?: (e: ProgressEvent) => void;
  /** A SentencePiece tokenizer.model to use instead of the model's own / the bundled Llama-2 one. */
  tokenizer?: string;
  /** A Jinja chat template to use instead of the checkpoint's / the Zephyr default. */
  chatTemplate?: string;
  /** Cancels a download in progress. */
  signal?: AbortSignal;
  /** A PEFT LoRA / DoRA adapter directory, applied unmerged on top of the weights (models/adapter.ts). */
  adapter?: string;
}

/** Generation settings (see generate/generate.ts); `signal` cancels at once. */
export type GenerationOptions = Omit<GenerateOptions, "cache">;

export type { Completion } from "./generate/generate.js";

/**
 * A running generation: iterate it for text pieces; `result` resolves when it ends. Reading `result`
 * before iterating runs the generation to its end without streaming (it can then not be iterated).
 */
export interface Generation extends AsyncIterable<string> {
  readonly result: Promise<Completion>;
}

/** Iteration drives the generation; `result` alone drains it. */
function makeGeneration(gen: AsyncGenerator<string, void, void>, result: Promise<Completion>): Generation {
  let claimed = false;
  return {
    get result() {
      if (!claimed) { claimed = true; void (async () => { for await (const _ of gen) { /* drain */ } })().catch(() => {}); }
      return result;
    },
    [Symbol.asyncIterator]() {
      if (claimed) throw new InputError("this generation is already being consumed (iterate it once, or read only its result)");
      claimed = true;
      return gen;
    },
  };
}

/** Short names of Apple's checkpoints ("OpenELM-270M-Instruct") mean the apple/ repositories. */
function resolveName(name: string): string {
  return /^OpenELM-[\w.-]+$/.test(name) ? `apple/${name}` : name;
}

/**
 * The local directory for a model name: the name itself when it is a directory; a hub id's snapshot
 * in the HF cache (downloaded when missing, unless offline); the embedded default model for no name.
 */
export async function resolveModelSource(nameOrDir: string | undefined, options: Pick<LoadModelOptions, "revision" | "hub" | "onProgress" | "signal"> = {}): Promise<{ name: string; dir: string; adapter?: string }> {
  if (nameOrDir === undefined || nameOrDir === "") return { name: "default", dir: defaultModelDir() };
  if (fs.existsSync(nameOrDir)) {
    if (!fs.statSync(nameOrDir).isDirectory() && !nameOrDir.endsWith(".gguf"))
      throw new InputError(`model "${nameOrDir}": expected a model directory (config.json + model.safetensors) or a .gguf file, got another file`);
    return { name: nameOrDir, dir: nameOrDir };
  }
  const embedded = embeddedModel(nameOrDir);
  if (embedded) return { name: nameOrDir, ...embedded };
  const repo = resolveName(nameOrDir);
  if (!isRepoId(repo)) throw new InputError(`model "${nameOrDir}": no such directory, and not a hub id "owner/name" (e.g. apple/OpenELM-270M-Instruct)`);
  const hub = { ...hubSettingsFromEnv(), ...options.hub };
  return { name: repo, dir: await resolveModelDir(repo, hub, { revision: options.revision, onProgress: options.onProgress, signal: options.signal }) };
}

/**
 * Load a model from a local directory, a .gguf file, a hub id ("apple/OpenELM-270M-Instruct", found in the HF cache
 * or downloaded), or, with no name, the small model shipped in assets/ (models/registry.ts).
 * Throws InputError for a name that is neither; HubError, ConfigError, CheckpointError from below.
 */
export async function loadModel(nameOrDir?: string, options: LoadModelOptions = {}): Promise<Model> {
  const { name, dir, adapter: ownAdapter } = await resolveModelSource(nameOrDir, options);
  if (ownAdapter !== undefined && options.adapter !== undefined)
    throw new InputError(`adapter ${options.adapter}: model "${name}" already applies its own adapter (give its base model with this adapter instead)`);
  const adapter = options.adapter ?? ownAdapter;
  const backend = await createBackend(options.backend ?? "auto", { threads: options.threads, onWarning: options.onWarning });
  let loaded;
  try {
    loaded = await openCheckpoint(dir, { backend, dtype: options.dtype });
  } catch (e) {
    if (backend !== options.backend) backend.dispose?.(); // ours: do not leave its threads running
    throw e;
  }
  const gguf = dir.endsWith(".gguf");
  const tokenizer = options.tokenizer ? await loadTokenizer(options.tokenizer) : await checkpointTokenizer(dir, loaded.tokenizerModel);
  const chatTemplate = options.chatTemplate ?? (gguf ? undefined : readChatTemplate(dir));
  const model = adapter !== undefined ? openAdapter(loaded.model, adapter) : loaded.model;
  return new Model(name, dir, model, tokenizer, chatTemplate);
}

/**
 * A loaded model. Many generations may run at once; they take turns one token step at a time
 * (first come, first served), because the network's work buffers are shared.
 */
export class Model {
  private readonly steps = new StepQueue();
  /** KV caches not in use; grows to the largest number of generations run at once. */
  private readonly cachePool: KVCache[] = [];
  private disposed = false;

  constructor(
    /** What it was loaded as: hub id, directory, or "default". */
    readonly name: string,
    /** The directory the weights came from (a snapshot in the HF cache for hub ids). */
    readonly dir: string,
    readonly network: OpenELMModel,
    readonly tokenizer: Tokenizer,
    /** The checkpoint's Jinja chat template, or undefined for the built-in Zephyr format. */
    readonly chatTemplate: string | undefined,
  ) {}

  get config(): OpenELMConfig { return this.network.config; }
  /** The backend running the model: "wasm-relaxed", "wasm", "ref", "webgpu". */
  get backend(): string { return this.network.backend.name; }
  /** Prompt plus generated tokens must fit in this many positions (max_context_length). */
  get contextLength(): number { return this.network.config.max_context_length; }

  /** Prompt ids for text: BOS, then SentencePiece ids. */
  encode(text: string): number[] { return this.tokenizer.encode(text); }

  /** Prompt text for a conversation, with the model's chat template. */
  chatPrompt(messages: ChatMessage[]): string {
    return renderChat(messages, { template: this.chatTemplate });
  }

  /** Prompt ids for a conversation ("</s>" in the template becomes the EOS id). Throws InputError for bad messages. */
  encodeChat(messages: ChatMessage[]): number[] {
    validateMessages(messages);
    return encodeChatPrompt(this.tokenizer, this.chatPrompt(messages));
  }

  /** Stream the continuation of a prompt (text, encoded with BOS; or ids). */
  generate(prompt: string | number[], options: GenerationOptions = {}): Generation {
    const ids = typeof prompt === "string" ? this.encode(prompt) : prompt;
    return this.run(ids, options);
  }

  /** The whole continuation of a prompt. */
  complete(prompt: string | number[], options: GenerationOptions = {}): Promise<Completion> {
    return this.generate(prompt, options).result;
  }

  /** Stream the assistant's reply to a conversation. */
  streamChat(messages: ChatMessage[], options: GenerationOptions = {}): Generation {
    return this.run(this.encodeChat(messages), options);
  }

  /** The assistant's whole reply to a conversation. */
  chat(messages: ChatMessage[], options: GenerationOptions = {}): Promise<Completion> {
    return this.streamChat(messages, options).result;
  }

  /** A multi-turn conversation that keeps its KV cache, so earlier turns are not recomputed. */
  chatSession(system?: string): ChatSession {
    return new ChatSession(this, system);
  }

  /** Release the weights and the backend's memory; later calls throw. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.cachePool.length = 0;
    this.network.backend.dispose?.();
  }

  /** Generation over prompt ids, optionally continuing a cache that holds earlier turns. */
  run(ids: number[], options: GenerationOptions, cache?: KVCache): Generation {
    const { pieces, result } = this.start(ids, options, cache);
    return makeGeneration(pieces, result);
  }

  /** @internal the piece generator and its result, before either is handed out. */
  start(ids: number[], options: GenerationOptions, cache?: KVCache): { pieces: AsyncGenerator<string, void, void>; result: Promise<Completion> } {
    if (this.disposed) throw new InputError(`model "${this.name}" was disposed`);
    validateGenerationOptions(options); // at the call, not at the first token
    let settle!: { resolve: (c: Completion) => void; reject: (e: unknown) => void };
    const result = new Promise<Completion>((resolve, reject) => { settle = { resolve, reject }; });
    result.catch(() => {}); // the error also reaches the iterating caller; avoid an unhandled rejection
    const steps = this.steps;
    const network = this.network, tokenizer = this.tokenizer;
    const signal = options.signal;
    const pool = this.cachePool;
    async function* pieces(): AsyncGenerator<string, void, void> {
      // Without a session cache, borrow one from the pool: caches are allocated once (a bump-allocating
      // backend never frees), and a prompt sharing a prefix with the cache's last run skips that prefix.
      const kv = cache ?? pool.pop() ?? network.newCache(network.config.max_context_length);
      const it = generate(network, tokenizer, ids, { ...options, cache: kv });
      let finished = false, clean = false;
      const partial = { text: "", tokens: [] as number[] };
      try {
        for (;;) {
          const release = await steps.acquire(signal);
          if (!release) break; // aborted while waiting for a turn
          let r: IteratorResult<GenerateStep, GenerateResult>;
          try {
            r = await it.next(); // one token step (the first one includes the prompt prefill)
          } finally {
            release();
          }
          if (r.done) {
            finished = clean = true;
            settle.resolve(toCompletion(r.value));
            return;
          }
          if (r.value.token >= 0) partial.tokens.push(r.value.token);
          partial.text += r.value.text;
          if (r.value.text) yield r.value.text;
        }
      } catch (e) {
        finished = true;
        settle.reject(e);
        throw e;
      } finally {
        if (!finished) {
          // The consumer stopped early (break, abort while queued): end the generator, report what came.
          await it.return(undefined as never).catch(() => undefined);
          settle.resolve({ text: partial.text, tokens: partial.tokens, finishReason: "abort", promptTokens: ids.length,
            completionTokens: partial.tokens.length, cachedPromptTokens: 0 });
        }
        // A generation cut off mid-step leaves the cache's record of its token ids stale: forget both.
        if (!clean) forgetCache(kv);
        if (!cache) pool.push(kv);
      }
    }
    return { pieces: pieces(), result };
  }
}

/** Empty a cache and the token ids generate() records on it (its prefix-reuse bookkeeping). */
function forgetCache(kv: KVCache): void {
  kv.truncate(0);
  (kv as KVCache & { ids?: number[] }).ids = [];
}

function toCompletion(r: GenerateResult): Completion {
  return {
    text: r.text, tokens: r.tokens, finishReason: r.finishReason, promptTokens: r.promptTokens,
    // An EOS ends the reply but is generated like any token; OpenAI counts it, and so do we.
    completionTokens: r.tokens.length, cachedPromptTokens: r.cachedPromptTokens,
  };
}

/**
 * A terminal or app conversation: messages accumulate; each turn re-renders the whole conversation
 * and generation reuses the KV cache for the prefix of tokens it shares with the previous turn.
 */
export class ChatSession {
  readonly messages: ChatMessage[] = [];
  private cache: KVCache | null = null;
  /** Prompt tokens reused (not recomputed) over all turns so far. */
  savedPromptTokens = 0;
  /** Earlier messages left out so far to keep the conversation inside the context. */
  droppedMessages = 0;

  constructor(readonly model: Model, readonly system?: string) {
    this.reset();
  }

  /** Forget the conversation (keeps the system message and the savedPromptTokens count). */
  reset(): void {
    this.messages.length = 0;
    if (this.system) this.messages.push({ role: "system", content: this.system });
    this.cache = null;
  }

  /**
   * Add a user message and stream the reply; the reply joins the conversation when it ends. When the
   * conversation, the message and room for the reply (`maxNewTokens`, default 256 but at most half the
   * context) would pass the context, the oldest turns are left out (the system message stays; see
   * `droppedMessages`), and the reply gets at most what is left.
   */
  send(user: string, options: GenerationOptions = {}): Generation {
    const reply = options.maxNewTokens ?? defaultReplyTokens(this.model.contextLength);
    const fit = fitConversation([...this.messages, { role: "user" as const, content: user }],
      (m) => this.model.encodeChat(m).length, this.model.contextLength, reply);
    if (fit.dropped > 0) {
      this.messages.splice(this.system ? 1 : 0, fit.dropped);
      this.droppedMessages += fit.dropped;
    }
    const turn = fit.messages;
    const ids = this.model.encodeChat(turn);
    this.cache ??= this.model.network.newCache(this.model.contextLength);
    const { pieces, result } = this.model.start(ids, { ...options, maxNewTokens: fit.replyTokens }, this.cache);
    const withTurn = result.then((c) => {
      this.messages.push(turn[turn.length - 1], { role: "assistant", content: c.text });
      this.savedPromptTokens += c.cachedPromptTokens;
      return c;
    });
    withTurn.catch(() => {});
    return makeGeneration(pieces, withTurn);
  }
}

/** First-come first-served turns: one generation step at a time on a model's shared buffers. */
class StepQueue {
  private busy = false;
  private waiters: Array<() => void> = [];

  /** Wait for the turn; resolves to the release function, or null if `signal` aborts first. */
  acquire(signal?: AbortSignal): Promise<(() => void) | null> {
    if (signal?.aborted) return Promise.resolve(null);
    const release = () => {
      const next = this.waiters.shift();
      if (next) next(); else this.busy = false;
    };
    if (!this.busy) { this.busy = true; return Promise.resolve(release); }
    return new Promise((resolve) => {
      const grant = () => { signal?.removeEventListener("abort", onAbort); resolve(release); };
      const onAbort = () => {
        const i = this.waiters.indexOf(grant);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve(null);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(grant);
    });
  }
}
