// The engine in a Node worker_thread, seen from the main thread: starts the worker (node_worker.ts), loads
// the model there, and restarts both when the engine fails as a whole (a kernel trap, the worker dying):
// the requests in flight fail, new ones wait for the fresh engine.

import * as fs from "node:fs";
import { Worker } from "node:worker_threads";
import { EngineClient } from "./client.js";
import { nodePortEndpoint } from "./node_port.js";
import type { LoadOptions, ModelInfo, ProgressInfo } from "./protocol.js";

/** Where the worker comes from: its script (default: node_worker.js) and its workerData (tests instrument the engine this way). */
export interface WorkerSpec { url?: URL; workerData?: unknown }

/** What the server needs of an engine: the model's description and a ready client. */
export interface EngineHandle {
  readonly info: ModelInfo;
  /** The current client; during a restart, the next one once it has loaded. */
  client(): Promise<EngineClient>;
  /** Restarts after failures so far. */
  readonly restarts?: number;
}

/** The compiled worker next to this file (dist), or in dist/ when running from src (tests). */
function workerUrl(): URL {
  const here = new URL("./node_worker.js", import.meta.url);
  if (fs.existsSync(here)) return here;
  const dist = new URL("../../dist/worker/node_worker.js", import.meta.url);
  if (fs.existsSync(dist)) return dist;
  throw new Error(`engine worker: node_worker.js not found next to ${import.meta.url} nor in dist/worker (run npm run build)`);
}

export class NodeEngine implements EngineHandle {
  /** Engine restarts after failures so far. */
  restarts = 0;
  /** Called with the failure when the engine restarts. */
  onRestart: (e: Error) => void = () => {};
  private current: Promise<EngineClient>;
  private worker: Worker | null = null;
  private closed = false;

  private constructor(readonly info: ModelInfo, first: { client: EngineClient; worker: Worker }, private readonly model: string | undefined,
    private readonly options: LoadOptions, private readonly spec: WorkerSpec) {
    this.current = Promise.resolve(first.client);
    this.watch(first.client, first.worker);
  }

  /** Start a worker and load the model in it; rejects with the load error. */
  static async start(model: string | undefined, options: LoadOptions = {}, onProgress?: (p: ProgressInfo) => void, spec: WorkerSpec = {}): Promise<NodeEngine> {
    const w = await spawn(model, options, spec, onProgress);
    return new NodeEngine(w.info, w, model, options, spec);
  }

  client(): Promise<EngineClient> {
    return this.current;
  }

  /** Unload and stop the worker. */
  async dispose(): Promise<void> {
    this.closed = true;
    const c = await this.current.catch(() => null);
    await c?.dispose().catch(() => {});
    await this.worker?.terminate();
  }

  private watch(client: EngineClient, worker: Worker): void {
    this.worker = worker;
    let failed = false;
    const restart = (e: Error) => {
      if (failed || this.closed) return;
      failed = true;
      client.close(e);
      void worker.terminate();
      this.restarts++;
      this.onRestart(e);
      this.current = spawn(this.model, this.options, this.spec).then((w) => { this.watch(w.client, w.worker); return w.client; });
      this.current.catch(() => {});
    };
    client.onFatal = (e) => restart(e);
    worker.on("error", (e) => restart(e));
    worker.on("exit", (code) => restart(Object.assign(new Error(`the engine worker exited (code ${code})`), { code: "engine_fault" })));
  }
}

async function spawn(model: string | undefined, options: LoadOptions, spec: WorkerSpec, onProgress?: (p: ProgressInfo) => void): Promise<{ client: EngineClient; worker: Worker; info: ModelInfo }> {
  const worker = new Worker(spec.url ?? workerUrl(), { workerData: spec.workerData });
  const client = new EngineClient(nodePortEndpoint(worker));
  const died = new Promise<never>((_, reject) => {
    worker.once("error", reject);
    worker.once("exit", (code) => reject(new Error(`the engine worker exited (code ${code}) while loading`)));
  });
  died.catch(() => {}); // after loading, exits are the watcher's business
  try {
    await Promise.race([client.ready, died]);
    const info = await Promise.race([client.load(model, options, onProgress), died]);
    return { client, worker, info };
  } catch (e) {
    void worker.terminate();
    throw e;
  }
}
