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
import { WEIGHT_TYPES } from "../io/gguf_quantize.js";
import { choiceArg, collect, generationArg, intArg } from "./args.js";

export interface ModelArgs { model?: string; backend?: BackendName; threads?: number; dtype?: WeightDType; adapter?: string[] }

export function addModelOptions(cmd: Command, { required = false } = {}): Command {
  cmd.option("-m, --model <dir|file.gguf|repo>", "model directory, GGUF file, or hub id such as apple/OpenELM-270M" +
    (required ? "" : " (default: the embedded model)"));
  cmd.option("--backend <name>", "kernels: auto (default: the fastest available), wasm, ref (plain TypeScript), webgpu; env OPENELM_BACKEND", choiceArg(BACKEND_NAMES));
  cmd.option("-t, --threads <n>", "worker threads for the wasm backend (default: all cores)", intArg(1));
  cmd.option("--dtype <type>", `convert weights while loading: ${WEIGHT_TYPES.join(", ")}`, choiceArg(WEIGHT_TYPES));
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

/** The backend name the flags ask for: --backend, else $OPENELM_BACKEND, else the fastest available ("auto"). */
export function backendName(args: ModelArgs): BackendName {
  return args.backend ?? (process.env.OPENELM_BACKEND ? parseBackendName(process.env.OPENELM_BACKEND, "OPENELM_BACKEND") : "auto");
}

/** The backend the flags ask for (backendName). */
export async function createBackend(args: ModelArgs): Promise<Backend> {
  return selectBackend(backendName(args), { threads: args.threads, onWarning: (m) => process.stderr.write(m + "\n") });
}

export interface OpenedModel extends LoadedModel { tokenizer: Tokenizer; backend: Backend }

/**
 * The local path of --model, as every subcommand takes it: a directory or .gguf file as given, a hub id
 * resolved through the HF cache (downloading if needed), or the embedded default model when it is omitted.
 */
export async function modelPath(args: { model?: string; revision?: string }): Promise<string> {
  const { dir, adapter } = await modelSource(args);
  if (adapter !== undefined)
    throw new InputError(`--model ${args.model}: this command takes a plain model, and "${args.model}" is a base model with an adapter (write one with: openelm merge --model ${args.model} --out DIR)`);
  return dir;
}

/** The local path of --model and, for a shipped model that carries one (default-instruct), its adapter directory. */
export async function modelSource(args: { model?: string; revision?: string; adapter?: string[] }): Promise<{ dir: string; adapter?: string }> {
  if (args.model?.toLowerCase().endsWith(".gguf") && !fs.existsSync(args.model))
    throw new InputError(`--model ${args.model}: no such GGUF file`);
  const { resolveModelSource } = await import("../engine.js");
  const { dir, adapter } = await resolveModelSource(args.model, { revision: args.revision });
  if (adapter !== undefined && (args.adapter ?? []).length > 0)
    throw new InputError(`--adapter: --model ${args.model} already applies its own adapter (use --model default with --adapter)`);
  return { dir, adapter: adapter ?? singleAdapter(args) };
}

/** Load --model (see modelSource) with its tokenizer and adapter on the chosen backend. */
export async function openModel(args: ModelArgs): Promise<OpenedModel> {
  const { dir: where, adapter } = await modelSource(args);
  const backend = await createBackend(args);
  const loaded = await openCheckpoint(where, { backend, dtype: args.dtype });
  if (adapter !== undefined) loaded.model = openAdapter(loaded.model, adapter);
  const tokenizer = await checkpointTokenizer(where, loaded.tokenizerModel);
  return { ...loaded, tokenizer, backend };
}
