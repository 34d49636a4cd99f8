// Continuous batching (Orca; vLLM, TGI, llama.cpp server -np N -cb): one engine step runs one forward over
// every active sequence, a decoding sequence contributing its last token and a prefilling one a chunk of
// its prompt (chunked prefill, so a long prompt does not stall the others), then each sequence with new
// logits chooses its next token. Decode is memory-bound, so a step of B sequences costs little more than
// a step of one: the weights are read once for the batch (OpenELMModel.forwardBatch; on the wasm backend a
// decode step of a few sequences runs the small-batch matvecs, kernels/wasm MATVEC_ROWS).
//
// Steps run back to back for up to 5 ms between turns of the event loop, where requests and aborts come in.
//
// Slots: `parallel` sequences at most, each with its own KV cache of `slotContext` positions (like
// llama.cpp's server, a KV budget is split evenly across slots). Requests wait in arrival order for a free
// slot; past `maxQueue` waiting, new ones fail with code "server_busy".
// Prefix cache: a finished sequence leaves its keys/values in its slot. A new request takes the longest
// prefix of its prompt, in whole blocks of `blockSize` tokens, that any slot holds (its own slot's in
// place, another's by copying the rows), and prefills only the rest.

import { InputError } from "../errors.js";
import type { Backend } from "../kernels/backend.js";
import type { BatchEntry, OpenELMModel } from "../models/openelm.js";
import type { KVCache } from "../models/kv_cache.js";
import type { Tokenizer } from "../tokenizer/sentencepiece.js";
import type { Completion, FinishReason, GenerateOptions } from "./generate.js";
import { validateGenerationOptions } from "./options.js";
import { Sequence } from "./sequence.js";

export interface SchedulerOptions {
  /** Sequences decoded together (slots, each with a KV cache); default 4. */
  parallel?: number;
  /** Bytes of KV cache for all slots together; default: a full context per slot. */
  kvBudgetBytes?: number;
  /**
   * Tokens a step at most (decode rows plus prefill chunks); default 64: at 8 streams of a 270M q8_0 model on 2
   * cores, against 128, the decoding streams' inter-token p99 halves (0.5 → 0.27 s) and output tokens/s holds; a
   * lone 512-token prompt is prefilled as fast (BENCHMARKS.md, "Server").
   */
  prefillChunk?: number;
  /** Requests waiting for a slot before new ones are refused; default unbounded. */
  maxQueue?: number;
  /** Prefix-cache granularity in tokens; default 16. */
  blockSize?: number;
}

/** Where a sequence's events go. */
export interface SequenceSink {
  /** Admitted to a slot; cachedPromptTokens came from the prefix cache. */
  started(promptTokens: number, cachedPromptTokens: number): void;
  /** After each engine step that prefilled part of the prompt: prompt tokens in the cache so far, of total. */
  prefilled?(done: number, total: number): void;
  /** One generated token and the text it made printable ("" mid-character; tokens empty for the final flush). */
  delta(text: string, tokens: number[]): void;
  done(c: Completion): void;
  error(e: unknown): void;
}


export interface SchedulerStats {
  running: number;
  waiting: number;
  batchSize: number;
  kvBytesInUse: number;
  kvBytesCached: number;
  kvBudgetBytes: number;
  steps: number;
  /** Sequences summed over steps (÷ steps = mean batch size). */
  stepSequences: number;
  promptTokens: number;
  cachedPromptTokens: number;
  generatedTokens: number;
}

/** An error with an API code ("server_busy", "context_length_exceeded", "engine_fault") and the field at fault. */
export function codedError<E extends Error>(e: E, code: string, param: string | null = null): E {
  return Object.assign(e, { code, param });
}

/** net: the model (or adapter view) whose keys and values the cache holds. */
interface Slot { cache: KVCache | null; req: Request | null; lastUsed: number; net: OpenELMModel | null }

interface Request {
  id: number;
  /** The base model or an adapter view of it (they share weights and buffers). */
  net: OpenELMModel;
  prompt: number[];
  seq: Sequence;
  sink: SequenceSink;
  slot: Slot | null;
  cached: number;
  /** The chosen token not yet in the cache (decode phase); -1 while prefilling. */
  pending: number;
  aborted: boolean;
}

/** The longest run of engine steps between turns of the event loop. */
const SLICE_MS = 5;

const nextTick: (f: () => void) => void = typeof setImmediate === "function" ? (f) => { setImmediate(f); } : (() => {
  // Browsers clamp nested setTimeout(0) to 4 ms; a message to oneself is not clamped.
  const ch = new MessageChannel(), queue: Array<() => void> = [];
  ch.port1.onmessage = () => queue.shift()?.();
  return (f: () => void) => { queue.push(f); ch.port2.postMessage(0); };
})();

export class BatchScheduler {
  readonly parallel: number;
  /** Positions each slot's cache holds: the context a request may use. */
  readonly slotContext: number;
  readonly kvBudgetBytes: number;
  private readonly bytesPerPos: number;
  private readonly chunk: number;
  private readonly maxQueue: number;
  private readonly block: number;
  private readonly slots: Slot[] = [];
  private readonly waiting: Request[] = [];
  private readonly byId = new Map<number, Request>();
  private scheduled = false;
  /** A step is between its start and its end (it awaits a device backend's logits). */
  private stepping = false;
  private broken: unknown = null;
  private clock = 0;
  /** The backend's greedy choice over its logits rows, when it has one. */
  private readonly argmax: ((x: Float32Array) => number) | undefined;
  private counters = { steps: 0, stepSequences: 0, batchSize: 0, promptTokens: 0, cachedPromptTokens: 0, generatedTokens: 0 };

  /** onFault: a forward threw (a kernel trap): every request in flight has failed and the scheduler is closed. */
  constructor(private readonly model: OpenELMModel, private readonly tokenizer: Tokenizer, opts: SchedulerOptions = {},
    private readonly onFault: (e: unknown) => void = () => {}) {
    const c = model.config;
    this.parallel = opts.parallel ?? 4;
    if (!Number.isInteger(this.parallel) || this.parallel < 1) throw new InputError(`parallel: expected an integer ≥ 1, got ${this.parallel}`);
    this.bytesPerPos = model.sizes.reduce((a, s) => a + 2 * s.nKV * c.head_dim * 4, 0);
    const perSlot = opts.kvBudgetBytes === undefined ? c.max_context_length : Math.floor(opts.kvBudgetBytes / this.parallel / this.bytesPerPos);
    this.slotContext = Math.min(c.max_context_length, perSlot);
    if (this.slotContext < 16)
      throw new InputError(`kv budget: ${opts.kvBudgetBytes} bytes give each of ${this.parallel} slots ${perSlot} positions ` +
        `(${this.bytesPerPos} bytes a position); at least 16 are needed`);
    this.kvBudgetBytes = this.parallel * this.slotContext * this.bytesPerPos;
    this.chunk = opts.prefillChunk ?? 64;
    if (!Number.isInteger(this.chunk) || this.chunk < 1) throw new InputError(`prefill chunk: expected an integer ≥ 1, got ${this.chunk}`);
    this.maxQueue = opts.maxQueue ?? Infinity;
    this.block = opts.blockSize ?? 16;
    for (let i = 0; i < this.parallel; i++) this.slots.push({ cache: null, req: null, lastUsed: 0, net: null });
    const be = model.backend;
    this.argmax = be.argmax ? (x) => be.argmax!(x) : undefined;
  }

  /**
   * Queue a generation of promptIds under id (unique among those in flight). Errors (a full queue, a prompt
   * longer than the slot context, bad options) arrive through sink.error, like everything else.
   */
  submit(id: number, promptIds: number[], opts: GenerateOptions, sink: SequenceSink, net: OpenELMModel = this.model): void {
    try {
      if (this.broken) throw codedError(new Error(`the engine failed and is restarting (${errorText(this.broken)})`), "engine_fault");
      if (this.byId.has(id)) throw new InputError(`request id ${id} is already in flight`);
      validateGenerationOptions(opts);
      if (promptIds.length === 0) throw codedError(new InputError("prompt: no tokens (encode with BOS to start from nothing)"), "invalid_value", "prompt");
      if (promptIds.length >= this.slotContext)
        throw codedError(new InputError(`prompt of ${promptIds.length} tokens does not fit the context of ${this.slotContext} tokens; shorten it`), "context_length_exceeded", "prompt");
      const inLine = Math.max(0, this.waiting.length - this.slots.filter((x) => !x.req).length); // not getting a slot at the next step
      if (inLine >= this.maxQueue)
        throw codedError(new Error(`the server is busy (${inLine} requests waiting); retry later`), "server_busy");
      const req: Request = { id, net, prompt: promptIds, seq: new Sequence(this.tokenizer, promptIds, opts, this.model.config.vocab_size), sink,
        slot: null, cached: 0, pending: -1, aborted: false };
      this.byId.set(id, req);
      this.waiting.push(req);
      this.wake();
    } catch (e) {
      sink.error(e);
    }
  }

  /** Cancel a request: a waiting one leaves at once, a running one at the next step; done() reports "abort". */
  abort(id: number): void {
    const r = this.byId.get(id);
    if (!r) return;
    r.aborted = true;
    const i = this.waiting.indexOf(r);
    if (i >= 0) { this.waiting.splice(i, 1); this.finish(r, "abort"); return; }
    this.wake();
  }

  /** Fail everything in flight with e and refuse new requests. */
  close(e: unknown): void {
    this.broken ??= e;
    for (const r of [...this.byId.values()]) this.fail(r, e);
  }

  stats(): SchedulerStats {
    let inUse = 0, cached = 0, running = 0;
    for (const s of this.slots) {
      const n = (s.cache?.length ?? 0) * this.bytesPerPos;
      if (s.req) { running++; inUse += n; } else cached += n;
    }
    const c = this.counters;
    return { running, waiting: this.waiting.length, batchSize: c.batchSize, kvBytesInUse: inUse, kvBytesCached: cached,
      kvBudgetBytes: this.kvBudgetBytes, steps: c.steps, stepSequences: c.stepSequences, promptTokens: c.promptTokens, cachedPromptTokens: c.cachedPromptTokens,
      generatedTokens: c.generatedTokens };
  }

  private wake(): void {
    if (this.scheduled || this.stepping || this.broken) return;
    this.scheduled = true;
    nextTick(() => {
      this.scheduled = false;
      this.stepping = true;
      void this.slice().finally(() => { this.stepping = false; if (this.byId.size) this.wake(); });
    });
  }

  /**
   * Steps back to back for up to SLICE_MS, then a turn of the event loop (where aborts, new requests and stats
   * come in). A turn costs tens of µs in a browser worker (a message to itself), several percent of a small
   * model's decode step; a step longer than the slice is followed by a turn as before.
   */
  private async slice(): Promise<void> {
    const end = performance.now() + SLICE_MS;
    do await this.step(); while (this.byId.size && !this.broken && performance.now() < end);
  }

  /** Give free slots to waiting requests, in arrival order, reusing the longest cached prefix. */
  private admit(): void {
    for (;;) {
      const free = this.slots.filter((s) => !s.req);
      if (free.length === 0 || this.waiting.length === 0) return;
      const r = this.waiting.shift()!;
      const limit = Math.floor((r.prompt.length - 1) / this.block) * this.block; // forward at least one prompt token
      const usable = (s: Slot) => s.cache && s.net === r.net ? Math.min(limit, Math.floor(s.cache.commonPrefix(r.prompt) / this.block) * this.block) : 0;
      // The free slot with the most of the prompt in place (then the least recently used: keeps other prefixes around).
      let slot = free[0];
      for (const s of free) if (usable(s) > usable(slot) || (usable(s) === usable(slot) && s.lastUsed < slot.lastUsed)) slot = s;
      let reuse = usable(slot);
      slot.cache ??= this.model.newCache(this.slotContext);
      let donor: Slot | null = null;
      for (const s of this.slots) if (s !== slot && usable(s) > reuse) { donor = s; reuse = usable(s); }
      const cache = slot.cache;
      if (donor) copyPrefix(this.model.backend, donor.cache!, cache, reuse);
      else cache.truncate(reuse);
      slot.req = r;
      slot.net = r.net;
      slot.lastUsed = ++this.clock;
      r.slot = slot;
      r.cached = reuse;
      this.counters.promptTokens += r.prompt.length;
      this.counters.cachedPromptTokens += reuse;
      r.sink.started(r.prompt.length, reuse);
      if (r.seq.finishReason) this.finish(r, r.seq.finishReason); // max tokens 0: nothing to compute
    }
  }

  /** One engine step: one forward over every running sequence (one per model view). */
  private async step(): Promise<void> {
    if (this.broken) return;
    for (const s of this.slots) if (s.req?.aborted) this.finish(s.req, "abort");
    this.admit();
    const running = this.slots.filter((s) => s.req).map((s) => s.req!);
    if (running.length === 0) return; // idle until the next submit
    // Decoding sequences first (one row each), then prompt chunks in admission order up to the step's budget.
    const entries: BatchEntry[] = [];
    const owners: Request[] = [];
    let budget = this.chunk;
    for (const r of running) if (r.pending >= 0) { entries.push({ ids: [r.pending], cache: r.slot!.cache!, logits: "last" }); owners.push(r); budget--; }
    budget = Math.max(budget, Math.min(this.chunk, 16)); // prefill always advances
    for (const r of running.sort((a, b) => a.slot!.lastUsed - b.slot!.lastUsed)) {
      if (r.pending >= 0 || budget <= 0) continue;
      const cache = r.slot!.cache!, from = cache.length, to = Math.min(r.prompt.length, from + budget);
      entries.push({ ids: r.prompt.slice(from, to), cache, logits: to === r.prompt.length ? "last" : "none" });
      owners.push(r);
      budget -= to - from;
    }
    // One batched forward per model view (an adapter's sequences apart from the base's; they share the weights).
    const logits: Float32Array[] = new Array(entries.length);
    let copied = false;
    try {
      const nets = new Set(owners.map((r) => r.net));
      for (const net of nets) {
        const idx = owners.flatMap((r, i) => (r.net === net ? [i] : []));
        const out = await net.forwardBatchAsync(idx.map((i) => entries[i]));
        // the next view's forward reuses the logits buffer: keep copies when there is one
        idx.forEach((i, j) => { logits[i] = nets.size > 1 ? out[j].slice() : out[j]; });
        copied = nets.size > 1;
      }
    } catch (e) {
      const fault = codedError(new Error(`engine fault: ${errorText(e)}`), "engine_fault");
      this.close(fault);
      this.onFault(fault);
      return;
    }
    this.counters.steps++;
    this.counters.batchSize = entries.length;
    this.counters.stepSequences += entries.length;
    for (let i = 0; i < entries.length; i++) {
      const r = owners[i], seq = r.seq;
      if (!r.slot) continue; // failed while the step awaited (close)
      if (r.pending < 0) r.sink.prefilled?.(entries[i].cache.length, r.prompt.length);
      if (entries[i].logits === "none") continue;
      const next = seq.choose(logits[i], undefined, copied ? undefined : this.argmax);
      const text = seq.push(next);
      this.counters.generatedTokens++;
      if (text !== null) r.sink.delta(text, [next]);
      if (seq.finishReason) this.finish(r, seq.finishReason);
      else if (r.slot!.cache!.length + 1 > this.slotContext) this.finish(r, "length");
      else r.pending = next;
    }
  }

  private release(r: Request): void {
    this.byId.delete(r.id);
    if (r.slot) { r.slot.req = null; r.slot.lastUsed = ++this.clock; r.slot = null; }
  }

  private finish(r: Request, reason: FinishReason): void {
    this.release(r);
    const tail = r.seq.finish(reason);
    if (tail) r.sink.delta(tail, []);
    const s = r.seq;
    r.sink.done({ text: s.text, tokens: s.tokens, finishReason: s.finishReason!, promptTokens: r.prompt.length,
      completionTokens: s.tokens.length, cachedPromptTokens: r.cached });
  }

  private fail(r: Request, e: unknown): void {
    this.release(r);
    const i = this.waiting.indexOf(r);
    if (i >= 0) this.waiting.splice(i, 1);
    r.sink.error(e);
  }
}

/** Copy positions 0 … n-1 (keys, values, token ids) from one cache to another, on the backend (caches may live on a device). */
function copyPrefix(be: Backend, from: KVCache, to: KVCache, n: number): void {
  for (let i = 0; i < from.k.length; i++) {
    const w = from.k[i].length / from.maxLen;
    be.copyRows(to.k[i], w, from.k[i], w, n, w);
    be.copyRows(to.v[i], w, from.v[i], w, n, w);
  }
  to.length = n;
  to.tokens = from.tokens.slice(0, n);
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
