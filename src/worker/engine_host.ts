// The engine host: runs inside a worker (Node worker_thread or browser Web Worker), owns the loaded model,
// and answers the protocol of protocol.ts over an Endpoint. Environment-neutral: no Node or DOM imports;
// the one environment-specific step, loading a model, is passed in (node_worker.ts for Node).
// Messages are handled between runs of engine steps (batch.ts: steps back to back for up to 5 ms, or one
// longer step), so an abort or a new request waits at most that long.

import type { Model } from "../engine.js";
import type { OpenELMModel } from "../models/openelm.js";
import { InputError } from "../errors.js";
import type { ClientMessage, Endpoint, HostMessage, LoadOptions, ModelInfo, ProgressInfo, Prompt, TrainOptions } from "./protocol.js";
import { PROTOCOL_VERSION, toWireError } from "./protocol.js";
import { BatchScheduler, type SchedulerOptions } from "../generate/batch.js";
import { CONFIG_FILE, peftAdapterFiles, WEIGHTS_FILE } from "../io/peft_adapter.js";
import { LoraSession, trainingData } from "../train/lora_session.js";
import type { TrainableOpenELM } from "../train/openelm_train.js";

export interface HostDeps {
  /** Load a model by name (directory, .gguf, hub id, URL: the loader decides) with the kernels it picks. */
  loadModel(model: string | undefined, options: LoadOptions, onProgress: (p: ProgressInfo) => void): Promise<Model>;
  /**
   * Open an adapter (LoadOptions.adapters: a directory, or in a browser the URL of the adapter's folder) as a
   * view of the loaded model; hosts without adapters leave it out.
   */
  loadAdapter?(model: Model, name: string, dir: string): OpenELMModel | Promise<OpenELMModel>;
}

/** Serve the protocol on endpoint until a dispose message; returns a function that stops listening. */
export function hostEngine(endpoint: Endpoint, deps: HostDeps): () => void {
  let model: Model | null = null;
  let scheduler: BatchScheduler | null = null;
  const views = new Map<string, OpenELMModel>(); // adapter name -> view of the base
  let training: { id: number; stop: boolean } | null = null; // the fine-tuning run, one at a time
  let trainable: TrainableOpenELM | null = null; // the loaded model's weights as training sees them, reused run after run
  const send = (m: HostMessage) => endpoint.postMessage(m);
  const fail = (id: number, e: unknown) => send({ type: "error", id, error: toWireError(e) });

  const stop = endpoint.listen((raw) => {
    const msg = raw as ClientMessage;
    try {
      handle(msg);
    } catch (e) {
      fail(msg.id, e);
    }
  });

  function loaded(): { model: Model; scheduler: BatchScheduler } {
    if (!model || !scheduler) throw new InputError("no model loaded (send load first)");
    return { model, scheduler };
  }

  function handle(msg: ClientMessage): void {
    switch (msg.type) {
      case "load": {
        if (model) throw new InputError(`a model is already loaded (${model.name}); dispose it first`);
        void load(msg.id, msg.model, msg.options ?? {});
        return;
      }
      case "tokenize": {
        send({ type: "tokens", id: msg.id, ids: promptIds(loaded().model, msg.prompt) });
        return;
      }
      case "generate": {
        const { model: m, scheduler: s } = loaded();
        const ids = promptIds(m, msg.prompt);
        const id = msg.id;
        const view = msg.adapter === undefined ? undefined : views.get(msg.adapter);
        if (msg.adapter !== undefined && !view) throw Object.assign(new InputError(`adapter "${msg.adapter}" is not loaded (loaded: ${[...views.keys()].join(", ") || "none"})`), { code: "model_not_found", param: "model" });
        const deltas = coalesce((text, tokens) => send({ type: "delta", id, text, tokens }), msg.streamIntervalMs ?? 0);
        s.submit(id, ids, msg.options ?? {}, {
          started: (promptTokens, cachedPromptTokens) => send({ type: "started", id, promptTokens, cachedPromptTokens }),
          prefilled: (done, total) => send({ type: "prefill", id, done, total }),
          delta: deltas.push,
          done: (completion) => { deltas.flush(); send({ type: "done", id, completion }); },
          error: (e) => { deltas.flush(); fail(id, e); },
        }, view);
        return;
      }
      case "train": {
        const m = loaded().model;
        if (training) throw Object.assign(new InputError(`a fine-tuning run is in progress (request ${training.id}); stop it first`), { code: "server_busy" });
        const run = training = { id: msg.id, stop: false };
        train(m, msg.id, msg.data, msg.options, run).catch((e) => fail(msg.id, e)).finally(() => { if (training === run) training = null; });
        return;
      }
      case "abort":
        if (training?.id === msg.id) training.stop = true;
        else scheduler?.abort(msg.id);
        return;
      case "stats":
        send({ type: "stats", id: msg.id, stats: loaded().scheduler.stats() });
        return;
      case "dispose":
        scheduler?.close(new InputError("the engine was disposed"));
        model?.dispose();
        model = null;
        scheduler = null;
        views.clear();
        trainable = null;
        send({ type: "disposed", id: msg.id });
        stop();
        return;
      default:
        throw new InputError(`unknown message type ${JSON.stringify((msg as { type?: unknown }).type)}`);
    }
  }

  /** Load the model, then its adapters (views of it); a failure disposes what was loaded and answers the request. */
  async function load(id: number, name: string | undefined, options: LoadOptions): Promise<void> {
    let m: Model | null = null;
    try {
      m = await deps.loadModel(name, options, (progress) => send({ type: "progress", id, progress }));
      const own = new Map<string, OpenELMModel>();
      for (const a of options.adapters ?? []) {
        if (!deps.loadAdapter) throw new InputError(`adapter "${a.name}": this host cannot load adapters`);
        own.set(a.name, await deps.loadAdapter(m, a.name, a.dir));
      }
      if (model) throw new InputError(`a model is already loaded (${model.name}); dispose it first`);
      model = m;
      for (const [k, v] of own) views.set(k, v);
      const opts: SchedulerOptions = { parallel: options.parallel, kvBudgetBytes: options.kvBudgetBytes,
        prefillChunk: options.prefillChunk, maxQueue: options.maxQueue };
      scheduler = new BatchScheduler(m.network, m.tokenizer, opts, (e) => send({ type: "fatal", error: toWireError(e) }));
      const info: ModelInfo = { name: m.name, contextLength: m.contextLength, vocabSize: m.config.vocab_size,
        eosId: m.tokenizer.eosId, backend: m.network.backend.name, parallel: scheduler.parallel, kvBudgetBytes: scheduler.kvBudgetBytes,
        memoryBytes: (m.network.backend as { memoryBytes?: () => number }).memoryBytes?.(), adapters: [...views.keys()] };
      send({ type: "loaded", id, model: info });
    } catch (e) {
      if (m && model !== m) m.dispose();
      fail(id, e);
    }
  }

  /** A LoRA run on the loaded model, a step per turn of the event loop (so abort and other requests get in). */
  async function train(m: Model, id: number, text: string, o: TrainOptions, run: { stop: boolean }): Promise<void> {
    const name = o.name ?? "fine-tuned";
    const data = trainingData(m.tokenizer, text);
    const s = new LoraSession(m.network, m.tokenizer.eosId, data, { steps: o.steps, r: o.r, alpha: o.alpha, lr: o.lr, batchSize: o.batchSize,
      contextLength: o.contextLength, seed: o.seed, baseModel: m.name }, trainable ?? undefined);
    trainable = s.model;
    send({ type: "trainStart", id, start: { format: data.format, examples: data.examples.length, tokens: data.tokens, sequences: s.sequences,
      seqLen: s.T, batch: s.B, trainableParams: s.trainableParams } });
    while (!s.done && !run.stop) {
      if (model !== m) throw new InputError("the model was disposed during fine-tuning");
      const t0 = performance.now();
      const r = s.next();
      send({ type: "trainStep", id, step: { step: r.step, steps: o.steps, loss: r.loss, lr: r.lr, gradNorm: r.gradNorm,
        tokensPerS: (s.B * s.T) / ((performance.now() - t0) / 1000) } });
      await new Promise((res) => setTimeout(res, 0));
    }
    if (model !== m) throw new InputError("the model was disposed during fine-tuning");
    const peft = s.snapshot();
    views.set(name, m.network.withAdapter(m.network.attach(name, peft)));
    const f = peftAdapterFiles(peft, name);
    const weights = new Uint8Array(f.weights.reduce((a, b) => a + b.byteLength, 0));
    f.weights.reduce((at, b) => { weights.set(b, at); return at + b.byteLength; }, 0);
    send({ type: "trained", id, result: { adapter: name, steps: s.step, stopped: !s.done,
      files: [{ name: CONFIG_FILE, data: new TextEncoder().encode(f.config) }, { name: WEIGHTS_FILE, data: weights }] } });
  }

  send({ type: "ready", version: PROTOCOL_VERSION });
  return stop;
}

/**
 * A generation's deltas, sent at most every `ms` (the first at once): tokens that come faster are held and go
 * together, with a timer for the last of them; flush() sends what is held (before done or error). A message a
 * token costs the engine's thread its posting, and the receiving thread (a page's, sharing the cores with the
 * kernel threads) a wake-up, which at hundreds of tokens a second weigh like the forward itself.
 */
function coalesce(send: (text: string, tokens: number[]) => void, ms: number): { push: (text: string, tokens: number[]) => void; flush: () => void } {
  if (ms <= 0) return { push: send, flush: () => {} };
  let text = "", tokens: number[] = [], held = false, last = -Infinity;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const flush = () => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    if (!held) return;
    const t = text, ids = tokens;
    text = ""; tokens = []; held = false;
    last = performance.now();
    send(t, ids);
  };
  return {
    push(t, ids) {
      text += t;
      for (const id of ids) tokens.push(id);
      held = true;
      const wait = last + ms - performance.now();
      if (wait <= 0) flush();
      else timer ??= setTimeout(flush, wait);
    },
    flush,
  };
}

/** Prompt ids for a prompt, checked against the vocabulary. Throws InputError naming the bad id. */
function promptIds(model: Model, p: Prompt): number[] {
  let ids: number[];
  if ("text" in p) ids = model.encode(p.text);
  else if ("messages" in p) ids = model.encodeChat(p.messages);
  else ids = p.ids;
  const V = model.config.vocab_size;
  const bad = ids.findIndex((t) => !Number.isInteger(t) || t < 0 || t >= V);
  if (bad >= 0) {
    const e = new InputError(`prompt: token id ${ids[bad]} at index ${bad} is out of range (vocabulary 0 … ${V - 1})`);
    Object.assign(e, { param: "prompt" });
    throw e;
  }
  return ids;
}
