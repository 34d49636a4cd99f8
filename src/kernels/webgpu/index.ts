// The WebGPU backend: WGSL kernels (one <op>.wgsl + <op>.ts dispatch per family), weights and the KV cache
// resident on the device. Kernel calls only queue dispatches (context.ts); the model reads back the
// logits once a step (Backend.read, OpenELMModel.forwardAsync). Browser-safe: it takes a GPU object
// (navigator.gpu, or the Node `webgpu` package's, see kernels/webgpu_node.ts) and imports nothing from Node.

/// <reference types="@webgpu/types" />

import type { Backend, Matrix } from "../backend.js";
import { toFloat32 } from "../../tensor/tensor.js";
import { InputError } from "../../errors.js";
import { GpuContext } from "./context.js";
import { loadMatrix, type GpuMatrix } from "./weights.js";
import { matmul } from "./matmul.js";
import { embed } from "./embed.js";
import { rmsnorm } from "./rmsnorm.js";
import { qkNormRope } from "./qk_norm_rope.js";
import { Attention } from "./attention.js";
import { swiglu } from "./swiglu.js";
import { addInPlace, copyRows } from "./elementwise.js";

/**
 * Prompt tokens a step with the workgroup kernels: a 512-token step fills a GPU's matmul grid and pays the
 * dispatch overhead once, not 4 times. The portable family (CPU adapters) keeps the model's default, which
 * also bounds its attention scratch (T · nQ · S floats) under the 128 MiB binding size browsers grant.
 */
const GPU_MICRO_BATCH = 512;

export interface WebGPUBackendOptions {
  /** The WebGPU entry point (default: navigator.gpu). */
  gpu?: GPU;
  powerPreference?: GPUPowerPreference;
  /**
   * Kernel family: "workgroup" (workgroup memory and barriers: what a GPU needs), "portable" (none: what a
   * CPU adapter such as SwiftShader runs fast), or "auto" (default): portable on a CPU adapter, else workgroup.
   */
  kernels?: "auto" | "workgroup" | "portable";
}

export interface WebGPUBackend extends Backend {
  /** What the adapter says it is (vendor, architecture, description), for logs and benchmarks. */
  readonly adapterInfo: string;
  /** The kernel family in use (WebGPUBackendOptions.kernels, "auto" resolved). */
  readonly kernels: "workgroup" | "portable";
}

/**
 * Create the WebGPU backend on the first adapter the GPU object offers. Throws InputError when there is no
 * WebGPU (no navigator.gpu and no gpu option) or no adapter; buffer limits are raised to what the adapter allows.
 */
export async function createWebGPUBackend(options: WebGPUBackendOptions = {}): Promise<WebGPUBackend> {
  const gpu = options.gpu ?? (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  if (!gpu) throw new InputError("webgpu backend: this runtime has no WebGPU (navigator.gpu is missing); in Node the `webgpu` package provides it");
  const adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference });
  if (!adapter)
    throw new InputError("webgpu backend: no WebGPU adapter found (no GPU driver; on Linux without a GPU, SwiftShader's Vulkan ICD: " +
      "install libvulkan1 and a SwiftShader build such as chromium's, and set VK_ICD_FILENAMES to its vk_swiftshader_icd.json)");
  const device = await adapter.requestDevice({ requiredLimits: {
    maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
    maxBufferSize: adapter.limits.maxBufferSize,
    maxStorageBuffersPerShaderStage: Math.min(8, adapter.limits.maxStorageBuffersPerShaderStage),
  } });
  const info = adapter.info;
  const kernels = options.kernels ?? "auto";
  const cpuAdapter = info?.isFallbackAdapter === true || /swiftshader|llvmpipe|lavapipe|warp/i.test(`${info?.vendor} ${info?.architecture} ${info?.description}`);
  const ctx = new GpuContext(device, kernels === "workgroup" || (kernels === "auto" && !cpuAdapter));
  const attention = new Attention(ctx);
  return {
    name: "webgpu",
    adapterInfo: [info?.vendor, info?.architecture, info?.description].filter(Boolean).join(" ") || "unknown adapter",
    kernels: ctx.workgroupKernels ? "workgroup" : "portable",
    microBatch: ctx.workgroupKernels ? GPU_MICRO_BATCH : undefined,
    alloc: (n) => ctx.alloc(n),
    loadMatrix: (t, rows, cols): Matrix => loadMatrix(ctx, t, rows, cols),
    loadVector(t) {
      const v = toFloat32(t);
      const a = ctx.alloc(v.length);
      a.set(v);
      ctx.write(a);
      return a;
    },
    embed: (out, table, ids) => embed(ctx, out, table as GpuMatrix, ids),
    matmul: (out, x, w, T) => matmul(ctx, out, x, w as GpuMatrix, T),
    rmsnorm: (out, x, w, rows, dim, eps) => rmsnorm(ctx, out, x, w, rows, dim, eps),
    qkNormRope: (qkv, T, nQ, nKV, hd, qNorm, kNorm, eps, pos0, theta) => qkNormRope(ctx, qkv, T, nQ, nKV, hd, qNorm, kNorm, eps, pos0, theta),
    attention: (out, q, qStride, kCache, vCache, T, pos0, nQ, nKV, hd) => attention.run(out, q, qStride, kCache, vCache, T, pos0, nQ, nKV, hd),
    swiglu: (out, gu, T, F) => swiglu(ctx, out, gu, T, F),
    copyRows: (dst, dstStride, src, srcStride, rows, width) => copyRows(ctx, dst, dstStride, src, srcStride, rows, width),
    addInPlace: (x, y, n) => addInPlace(ctx, x, y, n),
    write: (buf) => ctx.write(buf),
    read: (buf) => ctx.read(buf),
    dispose: () => ctx.destroy(),
  };
}
