// The browser side of the WebAssembly backend: compile the kernels fetched from URLs (the relaxed-SIMD
// build when the browser validates it) and start the pool's threads as Web Workers over the shared memory.
// Threads need a cross-origin isolated page (COOP/COEP headers): without it there is no SharedArrayBuffer.

import type { KernelHost } from "./index.js";
import type { PoolWorker, SpawnWorker } from "./pool.js";

export interface WebKernelUrls {
  /** kernels.wasm (SIMD) */
  plain: string | URL;
  /** kernels_relaxed.wasm (relaxed SIMD) */
  relaxed: string | URL;
  /** The bundled web_worker.ts */
  worker: string | URL;
}

async function fetchBytes(url: string | URL): Promise<Uint8Array<ArrayBuffer>> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`wasm backend: ${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

/** Web Workers running web_worker.ts; each resolves ready once it is in its loop. */
export function webWorkerSpawner(workerUrl: string | URL): SpawnWorker {
  return (module, memory, ctrl, spin, index): PoolWorker => {
    const w = new Worker(workerUrl, { type: "module", name: `kernels-${index}` });
    const ready = new Promise<void>((resolve, reject) => {
      w.onmessage = () => resolve();
      w.onerror = (e) => reject(new Error(`wasm backend: kernel worker ${index} failed to start (${e.message || "no message"})`));
    });
    w.postMessage({ module, memory, ctrl, spin, index });
    return { ready, terminate: () => w.terminate() };
  };
}

/** Compile the kernels for this browser; relaxed: "auto" uses relaxed SIMD where it validates. */
export async function webKernelHost(urls: WebKernelUrls, relaxed: boolean | "auto" = "auto"): Promise<KernelHost> {
  if (typeof SharedArrayBuffer === "undefined" || !(globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated)
    throw new Error("wasm backend: this page is not cross-origin isolated, so it has no SharedArrayBuffer; " +
      "serve it with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp (openelm web does)");
  const spawn = webWorkerSpawner(urls.worker);
  if (relaxed !== false) {
    const bytes = await fetchBytes(urls.relaxed);
    if (WebAssembly.validate(bytes)) return { module: await WebAssembly.compile(bytes), relaxed: true, spawn };
    if (relaxed === true) throw new Error("wasm backend: relaxed SIMD requested but this browser lacks it");
  }
  return { module: await WebAssembly.compile(await fetchBytes(urls.plain)), relaxed: false, spawn };
}
