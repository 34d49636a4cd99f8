// openelm-ts/kernels: the compute backends behind the model (the Backend interface, the WASM SIMD
// kernels with their thread pool, the WebGPU shaders, the reference loops) and the one function that picks among them.

export type { Backend, Matrix } from "./backend.js";
export { createBackend, parseBackendName, BACKEND_NAMES } from "./select.js";
export type { BackendName, BackendOptions } from "./select.js";
export { createRefBackend } from "./ref/index.js";
export { createWasmBackend } from "./wasm/index.js";
export type { WasmBackend, WasmBackendOptions } from "./wasm/index.js";
export { createWebGPUBackend } from "./webgpu/index.js";
export type { WebGPUBackend, WebGPUBackendOptions } from "./webgpu/index.js";
