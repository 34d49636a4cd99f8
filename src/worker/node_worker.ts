// Node worker_threads entry of the engine host: the model runs here, off the HTTP server's event loop.
// Loading is the Node-specific part: engine.ts loadModel (directories, .gguf, hub ids) with the kernels asked for.

import { parentPort } from "node:worker_threads";
import { createBackend } from "../cli/model_args.js";
import { loadModel } from "../engine.js";
import { InputError } from "../errors.js";
import { hostEngine } from "./engine_host.js";
import { nodePortEndpoint } from "./node_port.js";

hostEngine(nodePortEndpoint(parentPort!), {
  async loadModel(model, o, onProgress) {
    if (o.backend === "webgpu") throw new InputError(`backend "webgpu": Node has no WebGPU; use wasm or ref`);
    const backend = await createBackend({ backend: o.backend ?? "wasm", threads: o.threads });
    return loadModel(model, { backend, dtype: o.dtype, revision: o.revision, onProgress: (p) => onProgress({ phase: p.phase, file: p.file, bytes: p.bytes, total: p.total }) });
  },
});
