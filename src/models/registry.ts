// Where the embedded default model and the published configs live inside the package.

import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { ConfigError } from "../errors.js";
import { readJsonFile } from "../io/model_dir.js";
import { parseConfig, type OpenELMConfig } from "./config.js";

// (pure: a browser bundle that never asks for the directory drops it)
const ASSETS = /* @__PURE__ */ (() => fileURLToPath(new URL("../../assets/", import.meta.url)))();

/** The model `openelm generate` uses without --model (see assets/models/default/README.md). */
export function defaultModelDir(): string {
  return path.join(ASSETS, "models", "default");
}

/** The instruction-tuned default: a PEFT LoRA adapter over defaultModelDir() (see its README.md). */
export function defaultInstructAdapterDir(): string {
  return path.join(ASSETS, "models", "default-instruct");
}

/**
 * Models shipped in assets/ by name: "default" (the base) and "default-instruct" (the base with its chat
 * adapter, applied unmerged). Undefined for any other name.
 */
export function embeddedModel(name: string): { dir: string; adapter?: string } | undefined {
  if (name === "default") return { dir: defaultModelDir() };
  if (name === "default-instruct") return { dir: defaultModelDir(), adapter: defaultInstructAdapterDir() };
  return undefined;
}

/** Names of the published configs shipped in assets/configs (OpenELM-270M … OpenELM-3B-Instruct). */
export function publishedConfigNames(): string[] {
  return fs.readdirSync(path.join(ASSETS, "configs")).filter((f) => f.endsWith(".json")).map((f) => f.slice(0, -5)).sort();
}

/** A published config by name (OpenELM-270M, apple/OpenELM-1_1B-Instruct, ...) or a config.json path. */
export function resolveConfig(nameOrFile: string): OpenELMConfig {
  const name = nameOrFile.replace(/^apple\//, "");
  const file = path.join(ASSETS, "configs", `${name}.json`);
  if (!nameOrFile.endsWith(".json") && fs.existsSync(file)) return parseConfig(readJsonFile(file), file);
  if (fs.existsSync(nameOrFile)) return parseConfig(readJsonFile(nameOrFile), nameOrFile);
  throw new ConfigError(`--config ${nameOrFile}: not a published config (${publishedConfigNames().join(", ")}) nor a config.json file`);
}
