// The options every model-taking subcommand shares (--model, --backend, --threads, --dtype) and the one
// function that turns them into a loaded model, its tokenizer and generation config.

import type { Command } from "commander";
import type { Backend } from "../kernels/backend.js";
import { createRefBackend } from "../kernels/ref/index.js";
import * as fs from "node:fs";
import { openCheckpoint, type LoadedModel, type WeightDType } from "../models/load.js";
import { defaultModelDir } from "../models/registry.js";
import { checkpointTokenizer, type Tokenizer } from "../tokenizer/sentencepiece.js";
import { openAdapter } from "../models/adapter.js";
import { InputError } from "../errors.js";
import { choiceArg, collect, floatArg, intArg } from "./args.js";

export interface ModelArgs { model?: string; backend?: "ref" | "wasm"; threads?: number; dtype?: WeightDType; adapter?: string[] }

export function addModelOptions(cmd: Command, { required = false } = {}): Command {
  cmd.option("-m, --model <dir|file.gguf|repo>", "model directory, GGUF file, or hub id such as apple/OpenELM-270M" +
    (required ? "" : " (default: the embedded model)"));
  cmd.option("--backend <name>", "kernels: wasm (fast, default when built) or ref (plain TypeScript); env OPENELM_BACKEND", choiceArg(["ref", "wasm"] as const));
  cmd.option("-t, --threads <n>", "worker threads for the wasm backend (default: all cores)", intArg(1));
  cmd.option("--dtype <type>", "convert weights while loading: f32, f16, bf16, q8_0, q4_0", choiceArg(["f32", "f16", "bf16", "q8_0", "q4_0"] as const));
  cmd.option("--adapter <dir>", "PEFT LoRA / DoRA adapter directory (adapter_config.json + adapter_model.safetensors), applied unmerged" +
    (cmd.name() === "serve" ? "; NAME=DIR, repeatable: clients pick MODEL_ID:NAME" : ""), collect, []);
  return cmd;
}

/** The one --adapter of a command that takes one (serve takes several; see cli/serve.ts). */
export function singleAdapter(args: ModelArgs): string | undefined {
  const a = args.adapter ?? [];
  if (a.length > 1) throw new InputError(`--adapter: give one adapter directory (got ${a.length}); only serve takes several as NAME=DIR`);
  return a[0];
}

/** The sampling options generate and chat share (GenerateOptions: temperature, topK, topP, repetitionPenalty, seed). */
export function addSamplingOptions(cmd: Command): Command {
  return cmd
    .option("--temperature <t>", "sampling temperature; 0 = greedy", floatArg(0), 0)
    .option("--top-k <k>", "keep the k most likely tokens (0 = off)", intArg(0), 0)
    .option("--top-p <p>", "nucleus sampling mass (1 = off)", floatArg(0, 1), 1)
    .option("--repetition-penalty <r>", "HF repetition penalty (1 = off; Apple's examples use 1.2)", floatArg(0.000001), 1)
    .option("--seed <s>", "sampling seed", intArg(0), 0);
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

/** --model as a directory, a .gguf file, or a hub id resolved through the HF cache (downloading if needed). */
export async function openModel(args: ModelArgs): Promise<OpenedModel> {
  let where = args.model ?? defaultModelDir();
  if (!fs.existsSync(where) && !where.endsWith(".gguf")) {
    const { resolveModelSource } = await import("../engine.js");
    where = (await resolveModelSource(where)).dir;
  }
  const backend = await createBackend(args);
  const loaded = await openCheckpoint(where, { backend, dtype: args.dtype });
  const adapter = singleAdapter(args);
  if (adapter !== undefined) loaded.model = openAdapter(loaded.model, adapter);
  const tokenizer = await checkpointTokenizer(where, loaded.tokenizerModel);
  return { ...loaded, tokenizer, backend };
}
