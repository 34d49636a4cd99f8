// Browser Web Worker entry of the kernel pool: the counterpart of worker.ts (Node worker_threads). It gets
// the module, the shared memory and its thread number in one message, then runs the host-neutral loop.

import type { KernelExports } from "./jobs.js";
import { workerLoop } from "./worker_loop.js";

interface WorkerInit { module: WebAssembly.Module; memory: WebAssembly.Memory; ctrl: number; spin: number; index: number }
interface WorkerScope { onmessage: ((e: MessageEvent<WorkerInit>) => void) | null; postMessage(m: unknown): void }

const scope = globalThis as unknown as WorkerScope;
scope.onmessage = (e) => {
  scope.onmessage = null;
  const init = e.data;
  const instance = new WebAssembly.Instance(init.module, { env: { memory: init.memory } });
  workerLoop(instance.exports as unknown as KernelExports, new Int32Array(init.memory.buffer), init.ctrl, init.spin, init.index,
    () => scope.postMessage("ready"));
};
