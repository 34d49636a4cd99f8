// The options every model-taking subcommand shares (--model, --backend, --threads, --dtype) and the one
// function that turns them into a loaded model, its tokenizer and generation config.

import type { Command } from "commander";
import type { Backend } from "../kernels/backend.js";
import { BACKEND_NAMES, createBackend as selectBackend, parseBackendName, type BackendName } from "../kernels/select.js";
import * as fs from "node:fs";
import { openCheckpoint, type LoadedModel, type WeightDType } from "../models/load.js";
import { InputError } from "../errors.js";
import { checkpointTokenizer, type Tokenizer } from "../tokenizer/sentencepiece.js";
import { openAdapter } from "../models/adapter.js";
import { choiceArg, collect, generationArg, intArg } from "./args.js";

export interface ModelArgs { model?: string; backend?: BackendName; threads?: number; dtype?: WeightDType; adapter?: string[] }

export function addModelOptions(cmd: Command, { required = false } = {}): Command {
  cmd.option("-m, --model <dir|file.gguf|repo>", "model directory, GGUF file, or hub id such as apple/OpenELM-270M" +
    (required ? "" : " (default: the embedded model)"));
  cmd.option("--backend <name>", "kernels: auto (default: the fastest available), wasm, ref (plain TypeScript), webgpu; env OPENELM_BACKEND", choiceArg(BACKEND_NAMES));
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
    .option("--temperature <t>", "sampling temperature; 0 = greedy", generationArg("temperature"), 0)
    .option("--top-k <k>", "keep the k most likely tokens (0 = off)", generationArg("topK"), 0)
    .option("--top-p <p>", "nucleus sampling mass (1 = off)", generationArg("topP"), 1)
    .option("--repetition-penalty <r>", "HF repetition penalty (1 = off; Apple's examples use 1.2)", generationArg("repetitionPenalty"), 1)
    .option("--seed <s>", "sampling seed", generationArg("seed"), 0);
}

/** The backend the flags ask for: --backend, else $OPENELM_BACKEND, else the fastest available ("auto"). */
export async function createBackend(args: ModelArgs): Promise<Backend> {
  const name = args.backend ?? (process.env.OPENELM_BACKEND ? parseBackendName(process.env.OPENELM_BACKEND, "OPENELM_BACKEND") : "auto");
  return selectBackend(name, { threads: args.threads, onWarning: (m) => process.stderr.write(m + "\n") });
}

export interface OpenedModel extends LoadedModel { tokenizer: Tokenizer; backend: Backend }

/**
 * The local path of --model, as every subcommand takes it: a directory or .gguf file as given, a hub id
 * resolved through the HF cache (downloading if needed), or the embedded default model when it is omitted.
 */
export async function modelPath(args: { model?: string; revision?: string }): Promise<string> {
  if (args.model?.toLowerCase().endsWith(".gguf") && !fs.existsSync(args.model))
    throw new InputError(`--model ${args.model}: no such GGUF file`);
  const { resolveModelSource } = await import("../engine.js");
  return (await resolveModelSource(args.model, { revision: args.revision })).dir;
}

/** Load --model (see modelPath) with its tokenizer on the chosen backend. */
export async function openModel(args: ModelArgs): Promise<OpenedModel> {
  const where = await modelPath(args);
  const backend = await createBackend(args);
  const loaded = await openCheckpoint(where, { backend, dtype: args.dtype });
  const adapter = singleAdapter(args);
  if (adapter !== undefined) loaded.model = openAdapter(loaded.model, adapter);
  const tokenizer = await checkpointTokenizer(where, loaded.tokenizerModel);
  return { ...loaded, tokenizer, backend };
}
