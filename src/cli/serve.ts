// openelm serve: the OpenAI-compatible HTTP server (src/serve/server.ts) over one model, which runs in an
// engine worker (src/worker) with continuous batching. SIGTERM / SIGINT: stop accepting, finish the
// requests in flight, then exit 0.

import type { Command } from "commander";
import * as fs from "node:fs";
import * as path from "node:path";
import { createOpenAIServer } from "../serve/server.js";
import { NodeEngine } from "../worker/node_engine.js";
import { InputError } from "../errors.js";
import { floatArg, intArg } from "./args.js";
import { addModelOptions, backendName, type ModelArgs } from "./model_args.js";

interface Opts extends ModelArgs {
  host: string; port: number; parallel: number; maxQueue: number; maxBodyBytes: number; modelId?: string; revision?: string;
  kvBudgetMb?: number; prefillChunk: number; log: boolean;
}

export function register(program: Command): void {
  const cmd = program.command("serve")
    .description("serve the model over an OpenAI-compatible HTTP API (/v1/models, /v1/completions, /v1/chat/completions, /health, /metrics)");
  addModelOptions(cmd)
    .option("--revision <rev>", "hub revision when --model is a hub id", "main")
    .option("--host <host>", "address to listen on", "127.0.0.1")
    .option("--port <port>", "port to listen on (0 = any free port)", intArg(0), 8080)
    .option("-np, --parallel <n>", "sequences decoded together in one batch (each holds a KV cache)", intArg(1), 4)
    .option("--kv-budget-mb <mb>", "KV cache memory for all slots together, split evenly (default: a full context per slot)", floatArg(0.001))
    .option("--prefill-chunk <n>", "tokens an engine step at most: long prompts are prefilled in chunks between decode steps", intArg(1), 64)
    .option("--max-queue <n>", "requests that may wait for a slot before 503", intArg(0), 64)
    .option("--max-body-bytes <n>", "largest request body (413 beyond)", intArg(1), 1 << 20)
    .option("--model-id <id>", "the model id clients send (default: the hub id or the directory name)")
    .option("--no-log", "no per-request log lines on stderr")
    .action(async (o: Opts) => {
      const backend = backendName(o);
      const adapters = (o.adapter ?? []).map((spec) => {
        const eq = spec.indexOf("=");
        const name = eq > 0 ? spec.slice(0, eq) : path.basename(path.resolve(spec));
        if (!/^[\w.-]+$/.test(name)) throw new InputError(`--adapter ${spec}: NAME must be letters, digits, "_", "-" or "." (NAME=DIR)`);
        return { name, dir: eq > 0 ? spec.slice(eq + 1) : spec };
      });
      const dup = adapters.find((a, i) => adapters.findIndex((b) => b.name === a.name) !== i);
      if (dup) throw new InputError(`--adapter: the name "${dup.name}" is given twice`);
      const engine = await NodeEngine.start(o.model, { adapters,
        backend, threads: o.threads, dtype: o.dtype, revision: o.revision, parallel: o.parallel, maxQueue: o.maxQueue,
        kvBudgetBytes: o.kvBudgetMb === undefined ? undefined : Math.floor(o.kvBudgetMb * 2 ** 20), prefillChunk: o.prefillChunk,
      });
      const name = engine.info.name;
      const modelId = o.modelId ?? (fs.existsSync(name) ? path.basename(path.resolve(name)) : name); // a directory's name, or the hub id
      const srv = createOpenAIServer(engine, { modelId, maxBodyBytes: o.maxBodyBytes, log: o.log ? (l) => process.stderr.write(l + "\n") : undefined });
      engine.onRestart = (e) => {
        process.stderr.write(`openelm: engine failed (${e.message}); restarting it\n`);
      };
      const addr = await srv.listen(o.port, o.host);
      const host = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
      const names = [modelId, ...adapters.map((a) => `${modelId}:${a.name}`)].join(", ");
      process.stderr.write(`openelm: serving ${names} at http://${host}:${addr.port}/v1 (parallel ${engine.info.parallel}, ` +
        `context ${engine.info.contextLength} a slot, ${engine.info.backend}); SIGTERM drains and exits\n`);
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
      await engine.dispose();
      process.stderr.write("openelm: server stopped\n");
    });
}
