// Shared set-up for the WebGPU tests: the backend on Node's Dawn (kernels/webgpu_node.ts), which finds
// SwiftShader (a CPU Vulkan) through VK_ICD_FILENAMES on machines without a GPU. No adapter is a failure,
// never a skip: CI installs chromium (for its SwiftShader ICD) and libvulkan1 (.ci/run).

import * as fs from "node:fs";
import { createNodeWebGPUBackend } from "../../src/kernels/webgpu_node.js";
import type { WebGPUBackend } from "../../src/kernels/webgpu/index.js";
import type { Backend } from "../../src/kernels/backend.js";

/** Debian's chromium package ships SwiftShader's Vulkan ICD here. */
export const SWIFTSHADER_ICD = "/usr/lib/chromium/vk_swiftshader_icd.json";

/** The backend; `kernels` picks a kernel family (SwiftShader gets "portable" by default). */
export async function createWebGPU(kernels?: "workgroup" | "portable"): Promise<WebGPUBackend> {
  if (!process.env.VK_ICD_FILENAMES && fs.existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  return createNodeWebGPUBackend({ kernels });
}

/** Copy values into a buffer of the backend and send them to the device. */
export function put(be: Backend, v: ArrayLike<number>): Float32Array {
  const a = be.alloc(v.length);
  a.set(v);
  be.write?.(a);
  return a;
}

/** A device buffer of n floats filled with NaN, so an element a kernel leaves unwritten fails the comparison. */
export function nans(be: Backend, n: number): Float32Array {
  return put(be, new Float32Array(n).fill(NaN));
}

/** The buffer's values once the queued kernels are done. */
export async function get(be: Backend, a: Float32Array): Promise<Float32Array> {
  if (!be.read) throw new Error(`${be.name} is not a device backend`);
  return be.read(a);
}
