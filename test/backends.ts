// Every backend runs the same suite (tfjs describeWithFlags). Fast backends register here.
import type { Backend } from "../src/kernels/backend.js";
import { createRefBackend } from "../src/kernels/ref/index.js";
import { createWasmBackend } from "../src/kernels/wasm/index.js";
import { createWebGPU } from "./kernels/webgpu_cases.js";

export interface BackendCase { name: string; create(): Promise<Backend> }

export const BACKENDS: BackendCase[] = [
  { name: "ref", create: async () => createRefBackend() },
  { name: "wasm", create: async () => createWasmBackend({ threads: 2 }) },
  { name: "webgpu", create: createWebGPU }, // SwiftShader where there is no GPU
];
