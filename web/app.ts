// The page: model picking, loading with progress, streaming generation with speeds, in-tab LoRA fine-tuning
// with a live loss curve and the adapter's PEFT files to download, and a URL interface for scripts
// (?prompt=…&max_new_tokens=N&temperature=0&backend=wasm&autorun=1[&model=URL-or-hub-id-or-default-instruct]
// [&dtype=q8_0|q4_0&threads=N&prefill_chunk=N&dot_add=auto|on|off]
// [&train_text=…&train_steps=N&train_rank=R&train_lr=X&train_ctx=T]: with train_text, autorun fine-tunes
// first and generates with the adapter).
// The engine runs in a Web Worker (engine_worker.ts) behind the protocol's thin client; this thread only
// draws. Results of a run are also left on #output as data attributes for scripts and tests.

import { EngineClient, type EngineGeneration } from "../src/worker/client.js";
import { endpointOf, type GenerateOptions, type LoadOptions, type ModelInfo, type Prompt, type TrainOptions, type TrainResult } from "../src/worker/protocol.js";
import type { ChatMessage } from "../src/tokenizer/chat_template.js";
import { ASSETS } from "./assets.js";

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const output = $("output"), errorBox = $("error"), stats = $("stats"), modelInfo = $("model-info");
const loadBtn = $<HTMLButtonElement>("load"), genBtn = $<HTMLButtonElement>("generate"), stopBtn = $<HTMLButtonElement>("stop");
const resetBtn = $<HTMLButtonElement>("reset-chat"), chatLog = $("chat-log"), promptBox = $<HTMLTextAreaElement>("prompt");
const trainBtn = $<HTMLButtonElement>("train"), trainStopBtn = $<HTMLButtonElement>("train-stop"), trainData = $<HTMLTextAreaElement>("train-data");
const useAdapter = $<HTMLInputElement>("use-adapter"), trainStatus = $("train-status"), lossCurve = $("loss-curve");
const params = new URLSearchParams(location.search);

let worker: Worker | null = null;
let client: EngineClient | null = null;
let info: ModelInfo | null = null;
let running: EngineGeneration | null = null;
let training: { abort(): void } | null = null;
/** The adapter trained in this tab (its name for generate), while its model is loaded. */
let adapter: string | null = null;
/** The loaded model's own adapter (default-instruct's), used whenever the tab's fine-tuned one is not. */
let modelAdapter: string | null = null;
const downloads: string[] = []; // object URLs of the adapter's files
const chat: ChatMessage[] = [];

function setState(s: "idle" | "loading" | "ready" | "prefill" | "decoding" | "done" | "training" | "trained" | "error"): void {
  document.body.dataset.state = s;
}

function clearError(): void {
  errorBox.hidden = true;
  errorBox.textContent = "";
}

function showError(e: unknown): void {
  const msg = e instanceof Error ? e.message : String(e);
  errorBox.textContent = msg;
  errorBox.hidden = false;
  setState("error");
}

const mb = (n: number) => `${(n / 2 ** 20).toFixed(1)} MB`;

function showEnv(): void {
  const env = $("env");
  const badge = (t: string) => { const s = document.createElement("span"); s.textContent = t; env.append(s); };
  badge(crossOriginIsolated ? `cross-origin isolated · ${navigator.hardwareConcurrency} cores` : "not isolated: no threads");
  const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  if (!gpu) badge("no WebGPU");
  else gpu.requestAdapter().then((a) => badge(a ? "WebGPU adapter" : "WebGPU: no adapter"), () => badge("WebGPU: no adapter"));
}

function progress(phase: string, file: string, bytes: number, total: number): void {
  $("progress").hidden = false;
  $<HTMLProgressElement>("progress-bar").value = total > 0 ? bytes / total : 0;
  $("progress-text").textContent = `${phase === "download" ? "downloading" : "loading"} ${file}: ${mb(bytes)}${total ? ` of ${mb(total)}` : ""}`;
}

/** A fresh engine worker: one model per worker, so loading another model starts clean. */
async function freshClient(): Promise<EngineClient> {
  worker?.terminate();
  client?.close(new Error("another model is being loaded"));
  worker = new Worker(new URL(ASSETS.engineWorker, import.meta.url), { type: "module", name: "engine" });
  const c = new EngineClient(endpointOf(worker));
  worker.addEventListener("error", (e) => { c.close(new Error(`the engine worker failed: ${e.message || "no message"}`)); showError(e.message || "the engine worker failed"); });
  c.onFatal = (e) => showError(e);
  client = c;
  await c.ready;
  return c;
}

/**
 * The embedded default model with its shipped instruction adapter, as `--model default-instruct`: the base
 * model loaded with the adapter's files (fetched from beside the page) applied unmerged.
 */
const DEFAULT_INSTRUCT = "default-instruct";

/** Load a model (name: URL, hub id, "default" or "default-instruct"; or picked files) in a fresh worker. */
async function load(model: string | undefined, options: LoadOptions): Promise<ModelInfo> {
  setState("loading");
  clearError();
  info = null;
  genBtn.disabled = true;
  trainBtn.disabled = true;
  loadBtn.disabled = true;
  forgetAdapter();
  modelAdapter = null;
  modelInfo.textContent = "Loading…";
  const t0 = performance.now();
  try {
    const c = await freshClient();
    const instruct = model === DEFAULT_INSTRUCT && !options.files?.length;
    if (instruct) options = { ...options, adapters: [{ name: DEFAULT_INSTRUCT, dir: new URL(ASSETS.defaultInstruct, import.meta.url).href }] };
    info = await c.load(instruct ? "default" : model, { parallel: 1, ...options }, (p) => progress(p.phase, p.file, p.bytes, p.total));
    if (instruct) modelAdapter = DEFAULT_INSTRUCT;
    const secs = ((performance.now() - t0) / 1000).toFixed(1);
    modelInfo.textContent = `${instruct ? `${DEFAULT_INSTRUCT} (${info.name} + its adapter, unmerged)` : info.name} · backend ${info.backend} · context ${info.contextLength}` +
      (info.memoryBytes ? ` · memory ${mb(info.memoryBytes)}` : "") + ` · loaded in ${secs} s`;
    output.dataset.backend = info.backend;
    genBtn.disabled = false;
    trainBtn.disabled = false;
    setState("ready");
    return info;
  } catch (e) {
    modelInfo.textContent = "No model loaded.";
    throw e;
  } finally {
    loadBtn.disabled = false;
    $("progress").hidden = true;
  }
}

interface RunResult { text: string; tokens: number[]; finishReason: string; prefillTps: number; decodeTps: number }

/**
 * Streamed text reaches #output in batches, at most every STREAM_MS: the engine worker sends the tokens of that
 * span in one message. A message and a repaint per token cost the browser a share of a core, which the kernel
 * threads need (measured: decode of OpenELM-270M with 2 threads 0.81× of Node's with a per-token update,
 * 0.94× without; the 8M default model spent more time posting a message a token than choosing it).
 */
const STREAM_MS = 100;

/**
 * Streamed text goes into #output a line a block: a newline ends its block, the next text starts a new one, so an
 * update lays out the last line, not everything generated so far (one block of 5,000 characters took 2.5–3.3 ms
 * of layout an update, on a core the kernel threads share). The blocks' text, newlines included, is #output's
 * textContent, and a block's final newline draws no empty line (a block of just "\n" draws one, as in one text).
 */
function appendText(text: string): void {
  for (const part of text.split(/(?<=\n)/)) {
    const last = output.lastElementChild as HTMLElement | null; // its last text node is the latest part it took
    if (last && !(last.lastChild as Text).data.endsWith("\n")) last.append(part);
    else output.append(Object.assign(document.createElement("span"), { className: "para", textContent: part }));
  }
}

/**
 * Stream one generation into #output. Speeds on this page's clock: prefill = prompt tokens / (first token's
 * message − start); decode = (tokens − 1) / (final message − first token's message), a span holding decode steps
 * 2 … n and one message's latency (the engine sends the first token at once, the rest every STREAM_MS).
 */
async function generate(prompt: Prompt, options: GenerateOptions): Promise<RunResult> {
  if (!client || !info) throw new Error("load a model first");
  output.textContent = "";
  stats.textContent = "";
  clearError();
  genBtn.disabled = true;
  stopBtn.disabled = false;
  const tokens: number[] = [];
  let tStart = performance.now(), tFirst = 0, promptTokens = 0;
  const using = adapter !== null && useAdapter.checked ? adapter : modelAdapter;
  const gen = client.generate(prompt, options, {
    adapter: using ?? undefined,
    streamIntervalMs: STREAM_MS,
    onStart: (p) => { promptTokens = p; tStart = performance.now(); setState("prefill"); },
    onPrefill: (done, total) => { if (done < total) stats.textContent = `prefill: ${done} of ${total} prompt tokens`; },
  });
  running = gen;
  try {
    for await (const d of gen) {
      if (tFirst === 0 && d.tokens.length) { tFirst = performance.now(); setState("decoding"); }
      tokens.push(...d.tokens);
      if (d.text) appendText(d.text);
    }
    const c = await gen.result;
    const tEnd = performance.now();
    const prefillTps = tFirst ? promptTokens / ((tFirst - tStart) / 1000) : 0;
    const decodeTps = c.tokens.length > 1 && tFirst ? (c.tokens.length - 1) / ((tEnd - tFirst) / 1000) : 0;
    output.dataset.tokens = c.tokens.join(",");
    output.dataset.decodeTps = decodeTps.toFixed(2);
    output.dataset.prefillTps = prefillTps.toFixed(2);
    output.dataset.promptTokens = String(c.promptTokens);
    output.dataset.finishReason = c.finishReason;
    output.dataset.backend = info.backend;
    output.dataset.adapter = using ?? "";
    stats.textContent = `prompt ${c.promptTokens} tokens, prefill ${prefillTps.toFixed(1)} tokens/s · ` +
      `${c.tokens.length} generated, decode ${decodeTps.toFixed(1)} tokens/s · ${c.finishReason} · backend ${info.backend}` +
      (info.memoryBytes ? ` · memory ${mb(info.memoryBytes)}` : "");
    return { text: c.text, tokens: c.tokens, finishReason: c.finishReason, prefillTps, decodeTps };
  } finally {
    running = null;
    genBtn.disabled = false;
    stopBtn.disabled = true;
  }
}

/** The loss curve: a polyline over steps, scaled to the losses so far; losses also left on the svg for scripts. */
function drawLoss(losses: number[], steps: number): void {
  lossCurve.hidden = false;
  const hi = Math.max(...losses), lo = Math.min(...losses), span = hi - lo || 1;
  const pts = losses.map((l, i) => `${((i + 1) / steps * 600).toFixed(1)},${(8 + (hi - l) / span * 144).toFixed(1)}`);
  document.getElementById("loss-line")!.setAttribute("points", pts.join(" "));
  lossCurve.dataset.losses = losses.map((l) => l.toFixed(5)).join(",");
}

function forgetAdapter(): void {
  adapter = null;
  useAdapter.checked = false;
  $("use-adapter-label").hidden = true;
  $("downloads").hidden = true;
  for (const u of downloads.splice(0)) URL.revokeObjectURL(u);
}

/** Fine-tune a LoRA adapter on the loaded model in its worker; afterwards generation uses it (the checkbox). */
async function train(text: string, options: TrainOptions): Promise<TrainResult> {
  if (!client || !info) throw new Error("load a model first");
  clearError();
  setState("training");
  trainBtn.disabled = true;
  genBtn.disabled = true;
  trainStopBtn.disabled = false;
  const losses: number[] = [];
  document.getElementById("loss-line")!.setAttribute("points", "");
  const run = client.train(text, options, {
    onStart: (s) => {
      trainStatus.textContent = `${s.format === "text" ? "text" : `${s.examples} instruction examples`}: ${s.tokens} tokens, ` +
        `${s.sequences} sequences of ${s.seqLen}, ${s.batch} a step · ${(s.trainableParams / 1e6).toFixed(3)}M trainable parameters`;
      trainStatus.dataset.start = JSON.stringify(s);
    },
    onStep: (s) => {
      losses.push(s.loss);
      drawLoss(losses, s.steps);
      trainStatus.textContent = `step ${s.step} of ${s.steps} · loss ${s.loss.toFixed(4)} · lr ${s.lr.toExponential(2)} · ` +
        `${Math.round(s.tokensPerS)} tokens/s`;
    },
  });
  training = run;
  try {
    const r = await run.result;
    forgetAdapter();
    adapter = r.adapter;
    $("use-adapter-label").hidden = false;
    useAdapter.checked = true;
    for (const f of r.files) {
      const url = URL.createObjectURL(new Blob([f.data as Uint8Array<ArrayBuffer>], { type: f.name.endsWith(".json") ? "application/json" : "application/octet-stream" }));
      downloads.push(url);
      $<HTMLAnchorElement>(f.name.endsWith(".json") ? "download-config" : "download-weights").href = url;
    }
    $("downloads").hidden = false;
    trainStatus.textContent = `${r.stopped ? "stopped" : "finished"} after ${r.steps} steps` +
      (losses.length ? ` · loss ${losses[0].toFixed(4)} → ${losses[losses.length - 1].toFixed(4)}` : "") + " · generation now uses the adapter";
    return r;
  } finally {
    training = null;
    trainBtn.disabled = false;
    genBtn.disabled = false;
    trainStopBtn.disabled = true;
  }
}

function num(name: string): number | undefined {
  const v = params.get(name);
  if (v === null || v === "") return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`URL parameter ${name}=${v}: expected a number`);
  return n;
}

function backendParam(v: string | null): LoadOptions["backend"] {
  if (v === null || v === "") return undefined;
  if (v !== "wasm" && v !== "webgpu") throw new Error(`URL parameter backend=${v}: expected wasm or webgpu`);
  return v;
}

function dotAddParam(v: string | null): LoadOptions["dotAdd"] {
  if (v === null || v === "" || v === "auto") return undefined;
  if (v !== "on" && v !== "off") throw new Error(`URL parameter dot_add=${v}: expected auto, on or off`);
  return v === "on";
}

function dtypeParam(v: string | null): LoadOptions["dtype"] {
  if (v === null || v === "") return undefined;
  if (!["f32", "f16", "bf16", "q8_0", "q4_0"].includes(v)) throw new Error(`dtype ${v}: expected f32, f16, bf16, q8_0 or q4_0`);
  return v as LoadOptions["dtype"];
}

/** ?autorun=1: load (the default model unless &model=), generate once, leave the results on #output. */
async function autorun(): Promise<void> {
  const threads = num("threads");
  await load(params.get("model") ?? undefined, { backend: backendParam(params.get("backend")), dtype: dtypeParam(params.get("dtype")),
    threads, prefillChunk: num("prefill_chunk"), dotAdd: dotAddParam(params.get("dot_add")) });
  const trainText = params.get("train_text");
  if (trainText !== null) await train(trainText, { steps: num("train_steps") ?? 10, r: num("train_rank") ?? 8, lr: num("train_lr") ?? 2e-3,
    contextLength: num("train_ctx"), seed: num("train_seed") });
  await generate({ text: params.get("prompt") ?? "" }, {
    maxNewTokens: num("max_new_tokens"), temperature: num("temperature") ?? 0, seed: num("seed"),
    repetitionPenalty: num("repetition_penalty"), ignoreEos: params.get("ignore_eos") === "1",
  });
  setState("done");
}

function uiLoad(): void {
  const source = (document.querySelector("input[name=source]:checked") as HTMLInputElement).value;
  const options: LoadOptions = { dtype: dtypeParam($<HTMLSelectElement>("dtype").value), backend: backendParam($<HTMLSelectElement>("backend").value),
    dotAdd: dotAddParam(params.get("dot_add")) }; // a diagnostic switch, by URL only
  const t = $<HTMLInputElement>("threads").value;
  if (t) options.threads = Number(t);
  let model: string | undefined;
  if (source === DEFAULT_INSTRUCT) model = DEFAULT_INSTRUCT;
  else if (source === "hub") {
    model = $<HTMLInputElement>("model-id").value.trim();
    if (!model) return showError("type a Hugging Face model id (apple/OpenELM-270M-Instruct) or a URL");
  } else if (source === "folder" || source === "gguf") {
    const input = $<HTMLInputElement>(source === "folder" ? "model-folder" : "model-file");
    const picked = [...(input.files ?? [])];
    if (picked.length === 0) return showError(source === "folder" ? "pick a model folder first" : "pick a .gguf file first");
    options.files = picked.map((f) => ({ name: f.webkitRelativePath || f.name, data: f }));
  }
  load(model, options).then(() => {
    // default-instruct answers in the chat template: switch to Chat
    if (model !== DEFAULT_INSTRUCT) return;
    const chatMode = document.querySelector("input[name=mode][value=chat]") as HTMLInputElement;
    chatMode.checked = true;
    chatMode.dispatchEvent(new Event("change"));
  }, showError);
}

function uiGenerate(): void {
  const maxNewTokens = Number($<HTMLInputElement>("max-new-tokens").value) || 64;
  const temperature = Number($<HTMLInputElement>("temperature").value) || 0;
  const isChat = (document.querySelector("input[name=mode]:checked") as HTMLInputElement).value === "chat";
  const text = promptBox.value;
  const prompt: Prompt = isChat ? { messages: [...chat, { role: "user", content: text }] } : { text };
  const ignoreEos = $<HTMLInputElement>("ignore-eos").checked;
  generate(prompt, { maxNewTokens, temperature, ignoreEos }).then((r) => {
    if (isChat) {
      chat.push({ role: "user", content: text }, { role: "assistant", content: r.text });
      drawChat();
      promptBox.value = "";
    }
    setState("done");
  }).catch(showError);
}

function uiTrain(): void {
  const n = (id: string) => Number($<HTMLInputElement>(id).value);
  train(trainData.value, { steps: n("train-steps"), r: n("train-rank"), lr: n("train-lr"), contextLength: n("train-ctx") || undefined })
    .then(() => setState("trained"), showError);
}

function drawChat(): void {
  chatLog.replaceChildren(...chat.map((m) => {
    const d = document.createElement("div");
    d.className = `msg ${m.role}`;
    d.textContent = `${m.role === "user" ? "You" : "Model"}: ${m.content}`;
    return d;
  }));
}

for (const r of document.querySelectorAll<HTMLInputElement>("input[name=mode]")) r.addEventListener("change", () => {
  const isChat = r.value === "chat" && r.checked;
  chatLog.hidden = !isChat;
  resetBtn.hidden = !isChat;
});
// Picking a file selects its source.
$("model-folder").addEventListener("change", () => { (document.querySelector("input[name=source][value=folder]") as HTMLInputElement).checked = true; });
$("model-file").addEventListener("change", () => { (document.querySelector("input[name=source][value=gguf]") as HTMLInputElement).checked = true; });
$("model-id").addEventListener("input", () => { (document.querySelector("input[name=source][value=hub]") as HTMLInputElement).checked = true; });
loadBtn.addEventListener("click", uiLoad);
genBtn.addEventListener("click", uiGenerate);
stopBtn.addEventListener("click", () => running?.abort());
resetBtn.addEventListener("click", () => { chat.length = 0; drawChat(); });
trainBtn.addEventListener("click", uiTrain);
trainStopBtn.addEventListener("click", () => training?.abort());
// Dropping a file on the training box reads it as text (plain text or JSON lines).
trainData.addEventListener("dragover", (e) => { e.preventDefault(); trainData.classList.add("drop"); });
trainData.addEventListener("dragleave", () => trainData.classList.remove("drop"));
trainData.addEventListener("drop", (e) => {
  e.preventDefault();
  trainData.classList.remove("drop");
  const f = e.dataTransfer?.files[0];
  if (f) f.text().then((t) => { trainData.value = t; }, showError);
  else trainData.value = e.dataTransfer?.getData("text/plain") ?? trainData.value;
});

showEnv();
if (params.get("backend")) $<HTMLSelectElement>("backend").value = params.get("backend")!;
if (params.get("prompt") !== null) promptBox.value = params.get("prompt")!;
if (params.get("train_text") !== null) trainData.value = params.get("train_text")!;
if ("serviceWorker" in navigator && params.get("sw") !== "0") navigator.serviceWorker.register(new URL("./sw.js", import.meta.url)).catch(() => {});
if (params.get("autorun") === "1") autorun().catch(showError);
else setState("idle");
