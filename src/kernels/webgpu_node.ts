// Node's WebGPU: the `webgpu` package (Dawn's Node bindings, prebuilt dawn.node inside the package) gives a
// GPU object like navigator.gpu. An optional peer dependency: it weighs ~130 MB (every platform's build). Without a GPU, Dawn finds SwiftShader through the Vulkan loader
// when VK_ICD_FILENAMES names its ICD (Debian: apt-get install chromium libvulkan1, then
// VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json).

/// <reference types="@webgpu/types" />

import { createWebGPUBackend, type WebGPUBackend, type WebGPUBackendOptions } from "./webgpu/index.js";
import { InputError } from "../errors.js";

let gpu: GPU | null = null;

/** The process's GPU object (created once: Dawn instances are heavy). */
export async function nodeGPU(): Promise<GPU> {
  if (gpu) return gpu;
  let dawn: { create(flags: string[]): GPU; globals: Record<string, unknown> };
  try {
    dawn = (await import("webgpu")) as unknown as typeof dawn;
  } catch (e) {
    throw new InputError(`backend "webgpu": Node needs the optional \`webgpu\` package (npm install webgpu): ${(e as Error).message}`);
  }
  Object.assign(globalThis, dawn.globals); // GPUBufferUsage, GPUMapMode, … as in a browser
  gpu = dawn.create([]);
  return gpu;
}

/** The WebGPU backend on Node's GPU object. */
export async function createNodeWebGPUBackend(options: Omit<WebGPUBackendOptions, "gpu"> = {}): Promise<WebGPUBackend> {
  return createWebGPUBackend({ ...options, gpu: await nodeGPU() });
}
