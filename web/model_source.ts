// Where a model comes from in the browser, and how its files are read: the embedded default model served
// beside the page, a folder or .gguf the user picked (File objects), a URL, or a Hugging Face hub id; and
// a PEFT adapter's files fetched from a URL (the embedded default-instruct adapter).
// Fetched files are kept in Cache Storage, so a second visit loads without the network. Files are read
// with FileReaderSync (this runs in the engine worker), one tensor at a time as the loader asks.

import type { ByteSource, ModelFiles } from "../src/io/byte_source.js";
import { InputError } from "../src/errors.js";
import { CONFIG_FILE, WEIGHTS_FILE } from "../src/io/peft_adapter.js";

/** Progress of one file: bytes fetched or read so far of total. */
export type OnProgress = (phase: "download" | "load", file: string, bytes: number, total: number) => void;

/** A checkpoint as the loader takes it: a model folder's files or one GGUF file. */
export type Fetched = { name: string; files: ModelFiles } | { name: string; gguf: ByteSource };

const CACHE = "openelm-models";

/** A ByteSource over a Blob (a File, a cached response's body); reads report progress. */
export function blobSource(blob: Blob, name: string, onRead?: (bytes: number) => void): ByteSource {
  const reader = new FileReaderSync();
  return {
    name,
    size: blob.size,
    read(position, length, into) {
      if (position + length > blob.size)
        throw new InputError(`${name}: unexpected end of file reading ${length} bytes at ${position} (the file has ${blob.size})`);
      const bytes = new Uint8Array(reader.readAsArrayBuffer(blob.slice(position, position + length)));
      onRead?.(length);
      if (!into) return bytes;
      into.set(bytes);
      return into.subarray(0, length);
    },
    close() {},
  };
}

/** ModelFiles over blobs by file name; `where` names the folder in messages. */
function blobFiles(where: string, blobs: Map<string, Blob>, onProgress?: OnProgress): ModelFiles {
  const total = [...blobs.values()].reduce((a, b) => a + b.size, 0);
  let done = 0;
  return {
    where,
    path: (name) => `${where}/${name}`,
    has: (name) => blobs.has(name),
    open(name) {
      const b = blobs.get(name);
      if (!b) throw new InputError(`${where}/${name}: not found`);
      return blobSource(b, `${where}/${name}`, (n) => { done += n; onProgress?.("load", name, Math.min(done, total), total); });
    },
  };
}

/** Files the user picked: one .gguf file, or a model folder (config.json, weights, tokenizer files). */
export function pickedModel(files: Array<{ name: string; data: Blob }>, onProgress?: OnProgress): Fetched {
  if (files.length === 0) throw new InputError("no files picked: pick a model folder (config.json + model.safetensors) or a .gguf file");
  const ggufs = files.filter((f) => f.name.toLowerCase().endsWith(".gguf"));
  if (ggufs.length === 1 && files.length === 1) {
    const f = ggufs[0];
    return { name: f.name, gguf: blobSource(f.data, f.name, reporter(f.name, f.data.size, onProgress)) };
  }
  // A folder: names may carry the folder path (webkitRelativePath); files deeper than one level are not the model's.
  const blobs = new Map<string, Blob>();
  let folder = "";
  for (const f of files) {
    const parts = f.name.split("/");
    if (parts.length > 2) continue;
    if (parts.length === 2) folder = parts[0];
    blobs.set(parts[parts.length - 1], f.data);
  }
  const where = folder || "picked files";
  if (!blobs.has("config.json"))
    throw new InputError(`${where}: no config.json; pick a model folder as published on the hub (config.json + model.safetensors) or one .gguf file`);
  return { name: where, files: blobFiles(where, blobs, onProgress) };
}

function reporter(file: string, total: number, onProgress?: OnProgress): (n: number) => void {
  let done = 0;
  return (n) => { done += n; onProgress?.("load", file, Math.min(done, total), total); };
}

/** Fetch url, from Cache Storage when stored there, else over the network (stored afterwards). null: 404. */
async function cachedFetch(url: string, file: string, onProgress?: OnProgress, required = true): Promise<Blob | null> {
  const cache = typeof caches !== "undefined" ? await caches.open(CACHE) : null;
  const hit = await cache?.match(url);
  if (hit) return hit.status === 404 ? null : hit.blob();
  let r: Response;
  try {
    r = await fetch(url);
  } catch (e) {
    throw new InputError(`${url}: cannot fetch (${(e as Error).message}); offline, and not stored from an earlier visit`);
  }
  if (r.status === 404) {
    if (required) throw new InputError(`${url}: not found (HTTP 404)`);
    await cache?.put(url, new Response(null, { status: 404 })); // remembered, so offline visits don't ask again
    return null;
  }
  if (!r.ok) throw new InputError(`${url}: HTTP ${r.status} ${r.statusText}`);
  const total = Number(r.headers.get("content-length") ?? 0);
  const chunks: Uint8Array<ArrayBuffer>[] = [];
  let bytes = 0;
  const reader = r.body!.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    bytes += value.byteLength;
    onProgress?.("download", file, bytes, Math.max(total, bytes));
  }
  const blob = new Blob(chunks, { type: r.headers.get("content-type") ?? "application/octet-stream" });
  await cache?.put(url, new Response(blob, { headers: { "content-length": String(blob.size) } }));
  return blob;
}

/** The folder files fetched: config, generation config, weights (single or sharded), tokenizer, chat template. */
async function fetchFolder(name: string, base: string, onProgress?: OnProgress): Promise<Fetched> {
  const blobs = new Map<string, Blob>();
  const get = async (file: string, required: boolean) => {
    const b = await cachedFetch(base + file, file, onProgress, required);
    if (b) blobs.set(file, b);
    return b;
  };
  await get("config.json", true);
  await get("generation_config.json", false);
  const index = await get("model.safetensors.index.json", false);
  if (index) {
    const map = JSON.parse(await index.text()) as { weight_map?: Record<string, string> };
    for (const shard of new Set(Object.values(map.weight_map ?? {}))) if (!shard.includes("/")) await get(shard, true);
  } else await get("model.safetensors", true);
  if (!(await get("tokenizer.model", false))) await get("tokenizer.json", false);
  await get("tokenizer_config.json", false);
  return { name, files: blobFiles(name, blobs, onProgress) };
}

/**
 * A PEFT adapter's folder fetched from base (a URL ending in "/"): adapter_config.json and
 * adapter_model.safetensors, as files for the adapter reader (io/peft_adapter.ts peftAdapterFromFiles).
 */
export async function fetchAdapter(name: string, base: string, onProgress?: OnProgress): Promise<ModelFiles> {
  const blobs = new Map<string, Blob>();
  for (const file of [CONFIG_FILE, WEIGHTS_FILE]) blobs.set(file, (await cachedFetch(base + file, file, onProgress))!);
  return blobFiles(name, blobs, onProgress);
}

/** Short names of Apple's checkpoints ("OpenELM-270M-Instruct") mean the apple/ repositories. */
const REPO_ID = /^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*$/;

/**
 * A model by name: "" or "default" is the embedded model served at defaultBase; a URL ending in .gguf one
 * GGUF file; another URL a model folder; "owner/name" a hub repository (revision, default "main").
 */
export async function fetchModel(model: string | undefined, defaultBase: string, revision = "main", onProgress?: OnProgress): Promise<Fetched> {
  if (!model || model === "default") return fetchFolder("default", defaultBase, onProgress);
  if (/^(https?:)?\/\//.test(model) || model.startsWith("/") || model.startsWith("./")) {
    const url = new URL(model, globalThis.location?.href).href;
    if (/\.gguf($|\?)/i.test(url)) {
      const file = url.split("/").pop()!.split("?")[0];
      const blob = (await cachedFetch(url, file, onProgress))!;
      return { name: url, gguf: blobSource(blob, url, reporter(file, blob.size, onProgress)) };
    }
    return fetchFolder(url, url.endsWith("/") ? url : url + "/", onProgress);
  }
  const repo = /^OpenELM-[\w.-]+$/.test(model) ? `apple/${model}` : model;
  if (!REPO_ID.test(repo) || repo.includes(".."))
    throw new InputError(`model "${model}": expected a URL, a hub id "owner/name" (e.g. apple/OpenELM-270M-Instruct) or "default"`);
  return fetchFolder(repo, `https://huggingface.co/${repo}/resolve/${encodeURIComponent(revision)}/`, onProgress);
}
