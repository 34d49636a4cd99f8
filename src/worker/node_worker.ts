// Node worker_threads entry of the engine host: the model runs here, off the HTTP server's event loop.
// Loading is the Node-specific part: engine.ts loadModel (directories, .gguf, hub ids) with the kernels asked for.

import { parentPort } from "node:worker_threads";
import { loadModel } from "../engine.js";
import { openAdapter } from "../models/adapter.js";
import { hostEngine } from "./engine_host.js";
import { nodePortEndpoint } from "./node_port.js";

hostEngine(nodePortEndpoint(parentPort!), {
  async loadModel(model, o, onProgress) {
    return loadModel(model, { backend: o.backend ?? "auto", threads: o.threads, onWarning: (m) => process.stderr.write(m + "\n"), dtype: o.dtype, revision: o.revision, onProgress: (p) => onProgress({ phase: p.phase, file: p.file, bytes: p.bytes, total: p.total }) });
  },
  loadAdapter: (model, name, dir) => openAdapter(model.network, dir, name),
});
