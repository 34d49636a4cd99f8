// Paths of the files the build (web/build.mjs) puts beside the page, relative to the page's scripts.
// __DEFAULT_MODEL__ is the embedded model's folder, named by a hash of its weights so a new model is fetched
// anew while an unchanged one stays in Cache Storage; __DEFAULT_INSTRUCT__ likewise the default-instruct adapter's.

declare const __DEFAULT_MODEL__: string;
declare const __DEFAULT_INSTRUCT__: string;

export const ASSETS = {
  kernels: "./kernels.wasm",
  kernelsRelaxed: "./kernels_relaxed.wasm",
  kernelWorker: "./kernel_worker.js",
  engineWorker: "./engine_worker.js",
  tokenizer: "./tokenizer.model",
  defaultModel: `./models/${__DEFAULT_MODEL__}/`,
  defaultInstruct: `./models/${__DEFAULT_INSTRUCT__}/`,
} as const;
