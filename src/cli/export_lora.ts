// openelm export-lora: a PEFT LoRA adapter as llama.cpp's LoRA GGUF (io/gguf_lora.ts), for `llama-cli --lora`.
// The base model's config (shapes, per-layer FFN widths) comes from --model, else from the adapter's
// base_model_name_or_path (a directory relative to the adapter or to here, a .gguf file, or a hub id).

import type { Command } from "commander";
import * as fs from "node:fs";
import * as path from "node:path";
import { InputError } from "../errors.js";
import { writeLoraGguf, type LoraOutType } from "../io/gguf_lora.js";
import { loadGgufCheckpoint } from "../io/gguf_openelm.js";
import { readConfig } from "../io/model_dir.js";
import { readAdapterConfig, readPeftAdapter } from "../io/peft_adapter.js";
import type { OpenELMConfig } from "../models/config.js";
import { choiceArg } from "./args.js";
import { modelPath } from "./model_args.js";

interface ExportOptions { adapter: string; out: string; model?: string; outtype: LoraOutType }

/** The config of a model directory, GGUF file or hub id. */
async function baseConfig(model: string): Promise<OpenELMConfig> {
  const where = await modelPath({ model });
  if (where.toLowerCase().endsWith(".gguf")) {
    const ck = loadGgufCheckpoint(where);
    ck.close();
    return ck.config;
  }
  return readConfig(where);
}

export async function exportLora(o: ExportOptions): Promise<void> {
  if (!o.out.toLowerCase().endsWith(".gguf")) throw new InputError(`--out: expected a .gguf file name, got ${o.out}`);
  let model = o.model;
  if (model === undefined) {
    const cfg = readAdapterConfig(o.adapter), base = cfg.base_model_name_or_path;
    if (typeof base !== "string" || base === "")
      throw new InputError(`${path.join(o.adapter, "adapter_config.json")}: no base_model_name_or_path; give the base with --model`);
    const rel = path.resolve(o.adapter, base);
    model = fs.existsSync(rel) ? rel : base;
  }
  const config = await baseConfig(model);
  const adapter = readPeftAdapter(o.adapter, config);
  fs.mkdirSync(path.dirname(path.resolve(o.out)), { recursive: true });
  writeLoraGguf(o.out, adapter, config, { type: o.outtype, name: path.basename(path.resolve(o.adapter)) });
}

export function register(program: Command): void {
  program.command("export-lora")
    .description("write a PEFT LoRA adapter as llama.cpp's LoRA GGUF (llama-cli --lora FILE)")
    .requiredOption("--adapter <dir>", "PEFT adapter directory (adapter_config.json + adapter_model.safetensors)")
    .requiredOption("-o, --out <file.gguf>", "output GGUF file")
    .option("-m, --model <dir|file.gguf|repo>", "the base model (default: the adapter's base_model_name_or_path)")
    .option("--outtype <type>", "tensor type: f32, f16 (llama.cpp's converter default) or bf16", choiceArg(["f32", "f16", "bf16"] as const), "f16")
    .action(async (o: ExportOptions) => {
      await exportLora(o);
      process.stdout.write(`wrote ${o.out}\n`);
    });
}
