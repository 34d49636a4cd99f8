// Every backend runs the same suite (tfjs describeWithFlags). Fast backends register here.
import type { Backend } from "../src/kernels/backend.js";
import { createRefBackend } from "../src/kernels/ref/index.js";
import { createWasmBackend } from "../src/kernels/wasm/index.js";
import { createWebGPU } from "./kernels/webgpu_cases.js";

export interface BackendCase {
  name: string; create(): Promise<Backend>;
  /** Fixture models to leave out where the other cases already cover what they add (suite time). */
  skipFixtures?: string[];
}

export const BACKENDS: BackendCase[] = [
  { name: "ref", create: async () => createRefBackend() },
  { name: "wasm", create: async () => createWasmBackend({ threads: 2 }) },
  { name: "webgpu", create: () => createWebGPU() }, // SwiftShader where there is no GPU: the portable kernels
  // The GPU kernels, wherever it runs; SwiftShader pays ~0.5 ms a barrier per workgroup, and bf16 weights
  // go through the same matmul as f32 (webgpu_ops.test.ts checks every dtype on them).
  { name: "webgpu-workgroup", create: () => createWebGPU("workgroup"), skipFixtures: ["tiny-32k-bf16"] },
];
