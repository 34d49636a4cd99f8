// An engine worker for tests (NodeEngine.start(..., { url, workerData })): the real engine host over the
// reference kernels, instrumented: a prompt holding token id 31999 makes the embedding "trap" (throw like
// a wasm trap) and, with workerData.slowStepMs, every step with more than one token (a prefill chunk)
// takes that much longer, so a prefill can be watched from outside.
import { parentPort, workerData } from "node:worker_threads";
import { hostEngine } from "../../dist/worker/engine_host.js";
import { nodePortEndpoint } from "../../dist/worker/node_port.js";
import { loadModel } from "../../dist/engine.js";
import { createRefBackend } from "../../dist/kernels/ref/index.js";

export const TRAP_ID = 31999;
const sleeper = new Int32Array(new SharedArrayBuffer(4));

hostEngine(nodePortEndpoint(parentPort), {
  async loadModel(model) {
    const backend = createRefBackend();
    const embed = backend.embed.bind(backend);
    backend.embed = (out, table, ids) => {
      if (Array.from(ids).includes(TRAP_ID)) throw new WebAssembly.RuntimeError("unreachable (simulated trap)");
      if (workerData?.slowStepMs && ids.length > 1) Atomics.wait(sleeper, 0, 0, workerData.slowStepMs);
      embed(out, table, ids);
    };
    return loadModel(model, { backend });
  },
});
