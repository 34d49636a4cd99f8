// The thin client of the engine-worker protocol (protocol.ts): what the HTTP server's thread and a web page
// hold instead of the model. Environment-neutral: it only needs an Endpoint.
//
//   const engine = new EngineClient(endpoint);
//   await engine.load("apple/OpenELM-270M-Instruct", { dtype: "q8_0" }, (p) => console.log(p.file, p.bytes));
//   const gen = engine.generate({ text: "Once upon a time" }, { maxNewTokens: 32 });
//   for await (const d of gen) write(d.text);     // or gen.abort()
//   const c = await gen.result;                    // Completion: finishReason, token counts

import type { ClientMessage, Completion, EngineStats, Endpoint, GenerateOptions, HostMessage, LoadOptions, ModelInfo, ProgressInfo, Prompt,
  TrainOptions, TrainResult, TrainStart, TrainStep } from "./protocol.js";
import { EngineError } from "./protocol.js";

/** One streamed step: the text it made printable and its token ids. */
export interface Delta { text: string; tokens: number[] }

/** A running generation: iterate it for deltas; `result` resolves when it ends (rejects with an EngineError). */
export interface EngineGeneration extends AsyncIterable<Delta> {
  readonly id: number;
  readonly result: Promise<Completion>;
  /** Stop it; it ends within one run of engine steps (up to 5 ms, or one longer step) with finishReason "abort". */
  abort(): void;
}

export interface GenerateHooks {
  /** Aborts the generation. */
  signal?: AbortSignal;
  /** Called when the generation gets a batch slot (it may wait in line before). */
  onStart?: (promptTokens: number, cachedPromptTokens: number) => void;
  /** Run on this adapter (LoadOptions.adapters) instead of the base model. */
  adapter?: string;
  /** Called as the prompt is prefilled: tokens in the cache so far, of the prompt's total. */
  onPrefill?: (done: number, total: number) => void;
  /**
   * Deltas at most every this many ms (the first at once), each with all tokens since the last: for a reader
   * that shows text, not one that needs each token as it comes. Default 0: a delta per token.
   */
  streamIntervalMs?: number;
}

type Pending = (m: HostMessage) => void;

export class EngineClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly stop: () => void;
  private gone: Error | null = null;
  /** Resolves when the host has announced itself. */
  readonly ready: Promise<void>;
  /** The engine failed as a whole (a kernel trap): every request in flight has failed. */
  onFatal: (e: EngineError) => void = () => {};

  constructor(private readonly endpoint: Endpoint) {
    let ready!: () => void;
    this.ready = new Promise((r) => { ready = r; });
    this.stop = endpoint.listen((raw) => {
      const m = raw as HostMessage;
      if (m.type === "ready") ready();
      else if (m.type === "fatal") this.onFatal(new EngineError(m.error));
      else this.pending.get(m.id)?.(m);
    });
  }

  private post(m: ClientMessage): void {
    if (this.gone) throw this.gone;
    this.endpoint.postMessage(m);
  }

  /** A request with one answer of type `want`. */
  private call<T extends HostMessage["type"]>(m: ClientMessage, want: T, onOther?: (m: HostMessage) => void): Promise<Extract<HostMessage, { type: T }>> {
    return new Promise((resolve, reject) => {
      this.pending.set(m.id, (a) => {
        if (a.type === want) { this.pending.delete(m.id); resolve(a as Extract<HostMessage, { type: T }>); }
        else if (a.type === "error") { this.pending.delete(m.id); reject(new EngineError(a.error)); }
        else onOther?.(a);
      });
      try { this.post(m); } catch (e) { this.pending.delete(m.id); reject(e); }
    });
  }

  /** Load the model in the worker; progress events arrive while it downloads / loads. */
  async load(model?: string, options: LoadOptions = {}, onProgress?: (p: ProgressInfo) => void): Promise<ModelInfo> {
    const a = await this.call({ type: "load", id: this.nextId++, model, options }, "loaded", (m) => { if (m.type === "progress") onProgress?.(m.progress); });
    return a.model;
  }

  /** Prompt ids (text with BOS, or a conversation through the chat template). */
  async tokenize(prompt: Prompt): Promise<number[]> {
    return (await this.call({ type: "tokenize", id: this.nextId++, prompt }, "tokens")).ids;
  }

  async stats(): Promise<EngineStats> {
    return (await this.call({ type: "stats", id: this.nextId++ }, "stats")).stats;
  }

  /** Stream a generation. Errors (bad prompt, full queue, engine fault) reject `result` and the iteration. */
  generate(prompt: Prompt, options: GenerateOptions = {}, hooks: GenerateHooks = {}): EngineGeneration {
    const id = this.nextId++;
    const queue: Delta[] = [];
    let wake: (() => void) | null = null;
    let end: { completion?: Completion; error?: Error } | null = null;
    let settle!: { resolve: (c: Completion) => void; reject: (e: Error) => void };
    const result = new Promise<Completion>((resolve, reject) => { settle = { resolve, reject }; });
    result.catch(() => {}); // also reaches the iterating caller
    const finish = (e: typeof end) => {
      end = e;
      this.pending.delete(id);
      hooks.signal?.removeEventListener("abort", abort);
      if (e!.error) settle.reject(e!.error); else settle.resolve(e!.completion!);
      wake?.();
    };
    const abort = () => { if (!end) { try { this.post({ type: "abort", id }); } catch { /* the host is gone: failAll ends it */ } } };
    this.pending.set(id, (m) => {
      if (m.type === "started") hooks.onStart?.(m.promptTokens, m.cachedPromptTokens);
      else if (m.type === "prefill") hooks.onPrefill?.(m.done, m.total);
      else if (m.type === "delta") { queue.push({ text: m.text, tokens: m.tokens }); wake?.(); }
      else if (m.type === "done") finish({ completion: m.completion });
      else if (m.type === "error") finish({ error: new EngineError(m.error) });
    });
    try {
      this.post({ type: "generate", id, prompt, options, ...(hooks.adapter !== undefined ? { adapter: hooks.adapter } : {}),
        ...(hooks.streamIntervalMs ? { streamIntervalMs: hooks.streamIntervalMs } : {}) });
    } catch (e) { finish({ error: e as Error }); }
    if (hooks.signal?.aborted) abort();
    else hooks.signal?.addEventListener("abort", abort, { once: true });
    return {
      id,
      result,
      abort,
      async *[Symbol.asyncIterator]() {
        for (;;) {
          if (queue.length) { yield queue.shift()!; continue; }
          if (end) { if (end.error) throw end.error; return; }
          await new Promise<void>((r) => { wake = r; });
          wake = null;
        }
      },
    };
  }

  /**
   * Fine-tune a LoRA adapter on the loaded model with pasted data (text, or JSON-lines instruction examples);
   * `result` resolves with the adapter's name (for generate's `adapter` hook) and its PEFT files. abort():
   * stop after the current step, keeping the adapter as trained so far.
   */
  train(data: string, options: TrainOptions, hooks: { onStart?: (s: TrainStart) => void; onStep?: (s: TrainStep) => void } = {}):
    { id: number; result: Promise<TrainResult>; abort(): void } {
    const id = this.nextId++;
    const result = this.call({ type: "train", id, data, options }, "trained", (m) => {
      if (m.type === "trainStart") hooks.onStart?.(m.start);
      else if (m.type === "trainStep") hooks.onStep?.(m.step);
    }).then((m) => m.result);
    return { id, result, abort: () => { try { this.post({ type: "abort", id }); } catch { /* the host is gone: the result has failed */ } } };
  }

  /** Unload the model and stop the host. */
  async dispose(): Promise<void> {
    if (this.gone) return;
    await this.call({ type: "dispose", id: this.nextId++ }, "disposed");
    this.close(new Error("the engine was disposed"));
  }

  /** The host is gone (worker exited): fail everything in flight with e and refuse new requests. */
  close(e: Error): void {
    this.gone ??= e;
    this.stop();
    for (const [id, p] of [...this.pending]) p({ type: "error", id, error: { name: e.name, message: e.message, code: (e as { code?: string }).code ?? "engine_fault", param: null } });
    this.pending.clear();
  }
}
