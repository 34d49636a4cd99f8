// Server metrics in the Prometheus text exposition format (prometheus.io/docs/instrumenting/exposition_formats):
// counters, gauges and cumulative histograms (`_bucket{le=...}`, `_sum`, `_count`), names in base units
// (seconds, bytes) with an `openelm_` prefix, as vLLM's and llama.cpp's servers expose theirs.

type Labels = Record<string, string>;

const key = (l: Labels) => Object.entries(l).map(([k, v]) => `${k}="${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`).join(",");

export class Counter {
  private readonly values = new Map<string, number>();
  constructor(readonly name: string, readonly help: string) {}
  inc(by = 1, labels: Labels = {}): void {
    const k = key(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  get(labels: Labels = {}): number { return this.values.get(key(labels)) ?? 0; }
  render(): string {
    const rows = this.values.size ? [...this.values].map(([k, v]) => `${this.name}${k ? `{${k}}` : ""} ${v}`) : [`${this.name} 0`];
    return `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} counter\n${rows.join("\n")}\n`;
  }
}

export class Gauge {
  constructor(readonly name: string, readonly help: string, private readonly read: () => number) {}
  render(): string {
    return `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} gauge\n${this.name} ${this.read()}\n`;
  }
}

export class Histogram {
  private readonly counts: number[];
  private sum = 0;
  private n = 0;
  /** bounds: upper bounds of the buckets, ascending (+Inf is implied). */
  constructor(readonly name: string, readonly help: string, readonly bounds: number[]) {
    this.counts = new Array(bounds.length).fill(0);
  }
  observe(v: number): void {
    for (let i = 0; i < this.bounds.length; i++) if (v <= this.bounds[i]) this.counts[i]++;
    this.sum += v;
    this.n++;
  }
  get count(): number { return this.n; }
  render(): string {
    const rows = this.bounds.map((b, i) => `${this.name}_bucket{le="${b}"} ${this.counts[i]}`);
    rows.push(`${this.name}_bucket{le="+Inf"} ${this.n}`, `${this.name}_sum ${this.sum}`, `${this.name}_count ${this.n}`);
    return `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} histogram\n${rows.join("\n")}\n`;
  }
}

/** Latency buckets in seconds, 1 ms … 60 s. */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 2.5, 5, 10, 20, 60];

export interface EngineGauges { running: number; waiting: number; batchSize: number; kvBytesInUse: number; kvBytesCached: number;
  kvBudgetBytes: number; steps: number; stepSequences: number }

/** The server's metrics; engine gauges are read at scrape time. */
export class ServerMetrics {
  readonly requests = new Counter("openelm_requests_total", "Generation requests answered, by finish reason (or error code).");
  readonly promptTokens = new Counter("openelm_prompt_tokens_total", "Prompt tokens of answered requests.");
  readonly cachedTokens = new Counter("openelm_prompt_tokens_cached_total", "Prompt tokens taken from the prefix cache instead of computed.");
  readonly generationTokens = new Counter("openelm_generation_tokens_total", "Tokens generated.");
  readonly ttft = new Histogram("openelm_time_to_first_token_seconds", "From the request's arrival to its first generated token.", LATENCY_BUCKETS);
  readonly itl = new Histogram("openelm_inter_token_latency_seconds", "Between consecutive generated tokens of a request.", LATENCY_BUCKETS);
  readonly duration = new Histogram("openelm_request_duration_seconds", "From the request's arrival to its last token.", LATENCY_BUCKETS);

  render(g: EngineGauges | null, restarts: number): string {
    const restartCounter = new Counter("openelm_engine_restarts_total", "Engine restarts after a failure (a kernel trap, the worker dying).");
    restartCounter.inc(restarts);
    const gauges = g ? [
      new Gauge("openelm_requests_running", "Requests holding a batch slot.", () => g.running),
      new Gauge("openelm_requests_waiting", "Requests waiting for a batch slot.", () => g.waiting),
      new Gauge("openelm_batch_size_current", "Sequences in the last engine step.", () => g.batchSize),
      new Gauge("openelm_kv_cache_bytes_in_use", "KV cache bytes held by running sequences.", () => g.kvBytesInUse),
      new Gauge("openelm_kv_cache_bytes_cached", "KV cache bytes held by finished sequences for prefix reuse.", () => g.kvBytesCached),
      new Gauge("openelm_kv_cache_budget_bytes", "KV cache bytes of all slots.", () => g.kvBudgetBytes),
      // rate(step_sequences) / rate(steps) is the mean batch size over a window
      new Gauge("openelm_engine_steps_total", "Engine steps (batched forwards) since the engine started.", () => g.steps),
      new Gauge("openelm_engine_step_sequences_total", "Sequences summed over engine steps since the engine started.", () => g.stepSequences),
    ] : [];
    return [this.requests, this.promptTokens, this.cachedTokens, this.generationTokens, restartCounter, this.ttft, this.itl, this.duration, ...gauges]
      .map((m) => m.render()).join("");
  }
}
