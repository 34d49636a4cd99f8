// The engine worker of the page: it owns the WebAssembly memory and the kernel pool (whose threads are
// nested Web Workers over the shared memory) and answers the engine protocol (src/worker/protocol.ts)
// through the environment-neutral host. The one browser-specific step is loading: model_source.ts finds
// the files (the model's, and the adapters' of LoadOptions.adapters), the library's loaders read them
// (quantizing while loading when asked).

import { Model } from "../src/engine.js";
import { InputError } from "../src/errors.js";
import type { Backend } from "../src/kernels/backend.js";
import { createRefBackend } from "../src/kernels/ref/index.js";
import { createWasmBackendOn } from "../src/kernels/wasm/index.js";
import { webKernelHost } from "../src/kernels/wasm/web_host.js";
import { createWebGPUBackend } from "../src/kernels/webgpu/index.js";
import { openCheckpointSource } from "../src/models/load.js";
import { chatTemplateOf } from "../src/tokenizer/chat_template.js";
import { Tokenizer, tokenizerFromFiles } from "../src/tokenizer/sentencepiece.js";
import { readText } from "../src/io/byte_source.js";
import { peftAdapterFromFiles } from "../src/io/peft_adapter.js";
import { hostEngine } from "../src/worker/engine_host.js";
import { endpointOf, type LoadOptions, type ProgressInfo } from "../src/worker/protocol.js";
import { fetchAdapter, fetchModel, pickedModel } from "./model_source.js";
import { ASSETS } from "./assets.js";

const here = (p: string) => new URL(p, import.meta.url).href;

let bundledTokenizer: Promise<Uint8Array> | null = null;
/** The Llama-2 tokenizer.model served beside the page (for checkpoints without their own). */
function bundled(): Promise<Uint8Array> {
  bundledTokenizer ??= fetch(here(ASSETS.tokenizer)).then(async (r) => {
    if (!r.ok) throw new Error(`${ASSETS.tokenizer}: HTTP ${r.status}`);
    return new Uint8Array(await r.arrayBuffer());
  });
  return bundledTokenizer;
}

async function createBackend(o: LoadOptions): Promise<Backend> {
  const kind = o.backend === undefined || o.backend === "auto" ? "wasm" : o.backend;
  if (kind === "wasm") {
    const host = await webKernelHost({ plain: here(ASSETS.kernels), relaxed: here(ASSETS.kernelsRelaxed), worker: here(ASSETS.kernelWorker) });
    const threads = o.threads ?? Math.min(8, navigator.hardwareConcurrency || 1);
    return createWasmBackendOn(host, { threads, dotAdd: o.dotAdd });
  }
  if (kind === "webgpu") return createWebGPUBackend(); // navigator.gpu of this worker; InputError without an adapter
  if (kind === "ref") return createRefBackend();
  throw new InputError(`backend "${kind}": expected wasm, webgpu or ref`);
}

async function loadModel(model: string | undefined, o: LoadOptions, onProgress: (p: ProgressInfo) => void): Promise<Model> {
  const progress = (phase: string, file: string, bytes: number, total: number) => onProgress({ phase, file, bytes, total });
  const src = o.files?.length ? pickedModel(o.files, progress) : await fetchModel(model, here(ASSETS.defaultModel), o.revision, progress);
  const backend = await createBackend(o);
  try {
    if ("gguf" in src) {
      const ck = await openCheckpointSource({ gguf: src.gguf }, { backend, dtype: o.dtype, bundledTokenizer: await bundled() });
      const tokenizer = ck.tokenizerModel ? await Tokenizer.fromModelBytes(ck.tokenizerModel, src.name) : await Tokenizer.fromModelBytes(await bundled(), "tokenizer.model");
      return new Model(src.name, src.name, ck.model, tokenizer, undefined);
    }
    const ck = await openCheckpointSource({ files: src.files }, { backend, dtype: o.dtype });
    const tokenizer = await tokenizerFromFiles(src.files, bundled);
    const chatTemplate = src.files.has("tokenizer_config.json")
      ? chatTemplateOf(readText(src.files, "tokenizer_config.json"), src.files.path("tokenizer_config.json")) : undefined;
    return new Model(src.name, src.files.where, ck.model, tokenizer, chatTemplate);
  } catch (e) {
    backend.dispose?.();
    throw e;
  }
}

/** An adapter by the URL of its folder (LoadOptions.adapters), applied unmerged as a view of the loaded model. */
async function loadAdapter(model: Model, name: string, dir: string) {
  const files = await fetchAdapter(name, here(dir.endsWith("/") ? dir : dir + "/"));
  return model.network.withAdapter(model.network.attach(name, peftAdapterFromFiles(files, model.config)));
}

hostEngine(endpointOf(globalThis as unknown as Parameters<typeof endpointOf>[0]), { loadModel, loadAdapter });
