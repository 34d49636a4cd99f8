// A Hugging Face model directory as published: config.json, generation_config.json, and
// model.safetensors or shards listed in model.safetensors.index.json.

import * as fs from "node:fs";
import * as path from "node:path";
import { CheckpointError, ConfigError } from "../errors.js";
import type { StoredTensor } from "../tensor/tensor.js";
import { parseConfig, type OpenELMConfig } from "../models/config.js";
import { openSafetensorsSource } from "./safetensors.js";
import { readText, type ModelFiles } from "./byte_source.js";
import { directoryFiles } from "./file_source.js";

export interface GenerationConfig {
  bos_token_id?: number;
  eos_token_id?: number | number[];
  [key: string]: unknown;
}

export interface Checkpoint {
  dir: string;
  config: OpenELMConfig;
  generationConfig: GenerationConfig;
  tensors: Map<string, StoredTensor>;
}

export function readJsonFile(file: string, errorClass: typeof ConfigError = ConfigError): unknown {
  let text: string;
  try { text = fs.readFileSync(file, "utf-8"); } catch (e) {
    throw new errorClass(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try { return JSON.parse(text); } catch (e) {
    throw new errorClass(`${file}: not valid JSON (${(e as Error).message})`);
  }
}

/** A JSON file of a model folder, parsed; errors name the file. */
function readJson(files: ModelFiles, name: string, errorClass: typeof ConfigError = ConfigError): unknown {
  const file = files.path(name);
  let text: string;
  try { text = readText(files, name); } catch (e) {
    throw new errorClass(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try { return JSON.parse(text); } catch (e) {
    throw new errorClass(`${file}: not valid JSON (${(e as Error).message})`);
  }
}

export function readConfig(dir: string): OpenELMConfig {
  return configOf(directoryFiles(dir));
}

function configOf(files: ModelFiles): OpenELMConfig {
  const file = files.path("config.json");
  if (!files.has("config.json")) throw new ConfigError(`${file}: not found (a model directory needs config.json)`);
  return parseConfig(readJson(files, "config.json"), file);
}

/**
 * The weight_map of a model directory's model.safetensors.index.json (tensor name -> shard file) and its
 * shards, each checked to be a file name in dir that exists; null when there is no index.
 */
function readWeightMap(files: ModelFiles): { index: string; weightMap: Record<string, string>; shards: string[] } | null {
  const index = files.path("model.safetensors.index.json");
  if (!files.has("model.safetensors.index.json")) return null;
  const j = readJson(files, "model.safetensors.index.json", CheckpointError) as { weight_map?: Record<string, string> };
  if (!j.weight_map || typeof j.weight_map !== "object")
    throw new CheckpointError(`${index}: missing field "weight_map" (tensor name -> shard file)`);
  const shards = [...new Set(Object.values(j.weight_map))];
  for (const shard of shards) {
    if (typeof shard !== "string" || shard.includes("/") || shard.includes("\\"))
      throw new CheckpointError(`${index}: weight_map names shard ${JSON.stringify(shard)}, expected a file name in ${files.where}`);
    if (!files.has(shard)) throw new CheckpointError(`${index}: shard "${shard}" is listed but ${files.path(shard)} does not exist`);
  }
  return { index, weightMap: j.weight_map, shards };
}

/** The safetensors files of a model directory: model.safetensors, or the shards its index lists. */
export function weightFiles(dir: string): string[] {
  return weightFileNames(directoryFiles(dir)).map((f) => path.join(dir, f));
}

function weightFileNames(files: ModelFiles): string[] {
  const sharded = readWeightMap(files);
  if (sharded) return sharded.shards;
  if (!files.has("model.safetensors")) throw new CheckpointError(`${files.where}: no model.safetensors or model.safetensors.index.json`);
  return ["model.safetensors"];
}

/** Read config, generation config and every weight tensor of a model directory (tensors keep their dtype). */
export function readCheckpoint(dir: string): Checkpoint {
  const ck = openCheckpointDir(dir, false);
  ck.close();
  return ck;
}

/**
 * As readCheckpoint; with lazy (the default) each tensor's bytes are read from its file when its .data is
 * accessed (consumers read it once), so loading holds one tensor at a time. close() once done.
 */
export function openCheckpointDir(dir: string, lazy = true): Checkpoint & { close(): void } {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory())
    throw new CheckpointError(`${dir}: not a model directory (expected config.json and model.safetensors)`);
  return openCheckpointFiles(directoryFiles(dir), lazy);
}

/** As openCheckpointDir, over the files of a model folder however they are held (a browser's File objects). */
export function openCheckpointFiles(files: ModelFiles, lazy = true): Checkpoint & { close(): void } {
  const config = configOf(files);
  const generationConfig = files.has("generation_config.json") ? (readJson(files, "generation_config.json") as GenerationConfig) : {};
  const sharded = readWeightMap(files);
  const tensors = new Map<string, StoredTensor>();
  const closers: Array<() => void> = [];
  const close = () => { for (const c of closers) c(); };
  const open = (name: string) => {
    const f = openSafetensorsSource(files.open(name));
    closers.push(f.close);
    // eager: read every tensor now (the file closes right after)
    if (!lazy) for (const [name, t] of f.tensors) f.tensors.set(name, { name, dtype: t.dtype, shape: t.shape, data: t.data });
    return f.tensors;
  };
  try {
    if (sharded) {
      const { index, weightMap, shards } = sharded;
      for (const shard of shards) {
        const shardPath = files.path(shard);
        for (const [name, t] of open(shard)) {
          if (weightMap[name] !== shard)
            throw new CheckpointError(`${shardPath}: holds tensor "${name}" but the index maps it to ${JSON.stringify(weightMap[name] ?? null)}`);
          tensors.set(name, t);
        }
      }
      for (const name of Object.keys(weightMap))
        if (!tensors.has(name)) throw new CheckpointError(`${index}: tensor "${name}" is mapped to "${weightMap[name]}" but that shard does not hold it`);
    } else {
      for (const [name, t] of open(weightFileNames(files)[0])) tensors.set(name, t);
    }
  } catch (e) {
    close();
    throw e;
  }
  return { dir: files.where, config, generationConfig, tensors, close };
}
