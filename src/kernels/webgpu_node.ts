// Node's WebGPU: the `webgpu` package (Dawn's Node bindings, prebuilt dawn.node shipped in the package)
// gives a GPU object like navigator.gpu. Without a GPU, Dawn finds SwiftShader through the Vulkan loader
// when VK_ICD_FILENAMES names its ICD (Debian: apt-get install chromium libvulkan1, then
// VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json).

/// <reference types="@webgpu/types" />

import { createWebGPUBackend, type WebGPUBackend } from "./webgpu/index.js";

let gpu: GPU | null = null;

/** The process's GPU object (created once: Dawn instances are heavy). */
export async function nodeGPU(): Promise<GPU> {
  if (gpu) return gpu;
  const dawn = (await import("webgpu")) as { create(flags: string[]): GPU; globals: Record<string, unknown> };
  Object.assign(globalThis, dawn.globals); // GPUBufferUsage, GPUMapMode, … as in a browser
  gpu = dawn.create([]);
  return gpu;
}

/** The WebGPU backend on Node's GPU object. */
export async function createNodeWebGPUBackend(): Promise<WebGPUBackend> {
  return createWebGPUBackend({ gpu: await nodeGPU() });
}
