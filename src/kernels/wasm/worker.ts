// Node worker_threads entry of the kernel pool: instantiate the shared kernel module over the shared
// memory it is given, say ready, run the worker loop. The loop itself is host-neutral (worker_loop.ts).

import { parentPort, workerData } from "node:worker_threads";
import type { KernelExports } from "./jobs.js";
import { workerLoop } from "./worker_loop.js";

interface WorkerInit { module: WebAssembly.Module; memory: WebAssembly.Memory; ctrl: number; spin: number; index: number }

const init = workerData as WorkerInit;
const instance = new WebAssembly.Instance(init.module, { env: { memory: init.memory } });
workerLoop(instance.exports as unknown as KernelExports, new Int32Array(init.memory.buffer), init.ctrl, init.spin, init.index,
  () => parentPort!.postMessage("ready"));
