// openelm serve: the OpenAI-compatible HTTP server (src/serve/server.ts) over one model.
// SIGTERM / SIGINT: stop accepting, finish the requests in flight, then exit 0.

import type { Command } from "commander";
import * as path from "node:path";
import { loadModel, Model } from "../engine.js";
import { InputError } from "../errors.js";
import { openAdapter } from "../models/adapter.js";
import { createOpenAIServer } from "../serve/server.js";
import { intArg } from "./args.js";
import { addModelOptions, createBackend, type ModelArgs } from "./model_args.js";

interface Opts extends ModelArgs {
  host: string; port: number; parallel: number; maxQueue: number; maxBodyBytes: number; modelId?: string; revision?: string;
}

export function register(program: Command): void {
  const cmd = program.command("serve")
    .description("serve the model over an OpenAI-compatible HTTP API (/v1/models, /v1/completions, /v1/chat/completions, /health)");
  addModelOptions(cmd)
    .option("--revision <rev>", "hub revision when --model is a hub id", "main")
    .option("--host <host>", "address to listen on", "127.0.0.1")
    .option("--port <port>", "port to listen on (0 = any free port)", intArg(0), 8080)
    .option("--parallel <n>", "generations running at once (each holds a KV cache)", intArg(1), 4)
    .option("--max-queue <n>", "requests that may wait for a slot before 503", intArg(0), 64)
    .option("--max-body-bytes <n>", "largest request body (413 beyond)", intArg(1), 1 << 20)
    .option("--model-id <id>", "the model id clients send (default: the hub id or the directory name)")
    .action(async (o: Opts) => {
      const backend = await createBackend(o);
      const model = await loadModel(o.model, { backend, revision: o.revision, dtype: o.dtype });
      const modelId = o.modelId ?? (model.name === model.dir ? path.basename(path.resolve(model.dir)) : model.name);
      const adapters = new Map<string, Model>();
      for (const spec of o.adapter ?? []) {
        const eq = spec.indexOf("=");
        const name = eq > 0 ? spec.slice(0, eq) : path.basename(path.resolve(spec));
        const dir = eq > 0 ? spec.slice(eq + 1) : spec;
        if (!/^[\w.-]+$/.test(name)) throw new InputError(`--adapter ${spec}: NAME must be letters, digits, "_", "-" or "." (NAME=DIR)`);
        if (adapters.has(name)) throw new InputError(`--adapter ${spec}: the name "${name}" is given twice`);
        adapters.set(name, new Model(`${model.name}:${name}`, dir, openAdapter(model.network, dir, name), model.tokenizer, model.chatTemplate));
      }
      const srv = createOpenAIServer(model, { modelId, parallel: o.parallel, maxQueue: o.maxQueue, maxBodyBytes: o.maxBodyBytes, adapters });
      const addr = await srv.listen(o.port, o.host);
      const host = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
      const names = [modelId, ...[...adapters.keys()].map((n) => `${modelId}:${n}`)].join(", ");
      process.stderr.write(`openelm: serving ${names} at http://${host}:${addr.port}/v1 (parallel ${o.parallel}); SIGTERM drains and exits\n`);
      await new Promise<void>((resolve) => {
        let stopping = false;
        const stop = (sig: string) => {
          if (stopping) { // a second signal: do not wait any longer
            process.stderr.write(`openelm: ${sig} again: exiting without waiting\n`);
            process.exit(1);
          }
          stopping = true;
          process.stderr.write(`openelm: ${sig}: draining ${srv.stats().active} request(s)\n`);
          srv.drain().then(resolve);
        };
        process.on("SIGTERM", () => stop("SIGTERM"));
        process.on("SIGINT", () => stop("SIGINT"));
      });
      model.dispose();
      process.stderr.write("openelm: server stopped\n");
    });
}
