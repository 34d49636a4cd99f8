// The options every model-taking subcommand shares (--model, --backend, --threads, --dtype) and the one
// function that turns them into a loaded model, its tokenizer and generation config.

import type { Command } from "commander";
import type { Backend } from "../kernels/backend.js";
import { createRefBackend } from "../kernels/ref/index.js";
import { loadModelDir, type LoadedModel } from "../models/load.js";
import { defaultModelDir } from "../models/registry.js";
import { loadTokenizer, type Tokenizer } from "../tokenizer/sentencepiece.js";
import { choiceArg, intArg } from "./args.js";

export interface ModelArgs { model?: string; backend?: "ref" | "wasm"; threads?: number }

export function addModelOptions(cmd: Command, { required = false } = {}): Command {
  cmd.option("-m, --model <dir>", required ? "model directory (config.json + model.safetensors)" : "model directory (default: the embedded model)");
  cmd.option("--backend <name>", "kernels: wasm (fast, default when built) or ref (plain TypeScript); env OPENELM_BACKEND", choiceArg(["ref", "wasm"] as const));
  cmd.option("-t, --threads <n>", "worker threads for the wasm backend (default: all cores)", intArg(1));
  return cmd;
}

/** The fastest backend available: the WASM kernels when they are built, else the reference loops. */
export async function createBackend(args: ModelArgs): Promise<Backend> {
  const choice = args.backend ?? process.env.OPENELM_BACKEND;
  if (choice === "ref") return createRefBackend();
  try {
    const spec = "../kernels/wasm/index.js"; // optional: present once the kernels are built
    const wasm = (await import(spec)) as { createWasmBackend?: (o: { threads?: number }) => Promise<Backend> };
    if (wasm.createWasmBackend) return await wasm.createWasmBackend({ threads: args.threads });
  } catch (e) {
    if (choice === "wasm") throw e;
  }
  return createRefBackend();
}

export interface OpenedModel extends LoadedModel { tokenizer: Tokenizer; backend: Backend }

export async function openModel(args: ModelArgs): Promise<OpenedModel> {
  const dir = args.model ?? defaultModelDir();
  const backend = await createBackend(args);
  const loaded = loadModelDir(dir, { backend });
  const tokenizer = await loadTokenizer(dir); // the checkpoint's own tokenizer.model / tokenizer.json, else Llama-2
  return { ...loaded, tokenizer, backend };
}
