// Backend selection, in one place for the library, the CLI and the server: "auto" takes the fastest
// backend this runtime has (the WASM kernels, relaxed SIMD where the runtime validates it) and says so
// when it has to fall back to the reference loops; a named backend is that backend or an error.

/// <reference types="@webgpu/types" />

import { InputError } from "../errors.js";
import type { Backend } from "./backend.js";
import { createRefBackend } from "./ref/index.js";

export const BACKEND_NAMES = ["auto", "wasm", "ref", "webgpu"] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

export interface BackendOptions {
  /** Worker threads of the WASM backend (default: all cores). */
  threads?: number;
  /** Told when "auto" falls back to a slower backend (default: console.warn). */
  onWarning?: (message: string) => void;
}

/** Checks a backend name from outside (a flag, an environment variable, a URL); `source` names where it came from. */
export function parseBackendName(v: string, source: string): BackendName {
  if (!(BACKEND_NAMES as readonly string[]).includes(v))
    throw new InputError(`${source}: unknown backend "${v}"; expected one of ${BACKEND_NAMES.join(", ")}`);
  return v as BackendName;
}

/** A backend by name (default "auto"), or the given Backend object itself. */
export async function createBackend(spec: BackendName | Backend = "auto", opts: BackendOptions = {}): Promise<Backend> {
  if (typeof spec === "object") return spec;
  const name = parseBackendName(spec, "backend");
  if (name === "ref") return createRefBackend();
  if (name === "webgpu") {
    // A browser's navigator.gpu, else Node's Dawn (the `webgpu` package, kept out of browser bundles).
    const { createWebGPUBackend } = await import("./webgpu/index.js");
    const gpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
    if (gpu) return createWebGPUBackend({ gpu });
    const node = "./webgpu_node.js";
    const { nodeGPU } = (await import(node)) as typeof import("./webgpu_node.js");
    return createWebGPUBackend({ gpu: await nodeGPU() });
  }
  try {
    const { createWasmBackend } = await import("./wasm/index.js");
    if (opts.threads !== undefined && (!Number.isInteger(opts.threads) || opts.threads < 1))
      throw new InputError(`threads: expected an integer ≥ 1, got ${opts.threads}`);
    return await createWasmBackend({ threads: opts.threads });
  } catch (e) {
    if (name === "wasm" || e instanceof InputError) throw e;
    (opts.onWarning ?? console.warn)(`openelm: the WASM kernels did not load (${(e as Error).message}); ` +
      "running on the reference backend, which is much slower");
    return createRefBackend();
  }
}
