// openelm quantize: convert a model directory or GGUF file to a GGUF file of another weight type, with
// llama.cpp's rules (norms F32, matrices q8_0/q4_0, the tied output matrix Q8_0 under q4_0), so the file
// loads in llama.cpp as well as here. Reference: llama.cpp llama-quantize / convert_hf_to_gguf.py --outtype.

import type { Command } from "commander";
import * as fs from "node:fs";
import * as path from "node:path";
import { InputError } from "../errors.js";
import { ggmlTypeInfo, openGguf } from "../io/gguf.js";
import { readGguf, writeGguf } from "../io/gguf_openelm.js";
import { quantizeTensors, WEIGHT_TYPES, type WeightType } from "../io/gguf_quantize.js";
import { readTokenizerModelVocab, type GgufVocab } from "../io/gguf_vocab.js";
import { readCheckpoint } from "../io/model_dir.js";
import { validateTensors } from "../models/load.js";
import type { OpenELMConfig } from "../models/config.js";
import type { StoredTensor } from "../tensor/tensor.js";
import { choiceArg } from "./args.js";
import { modelPath } from "./model_args.js";

interface QuantizeOptions { model?: string; out: string; type: WeightType; allowRequantize?: boolean }

/** Where the GGUF goes: OUT itself when it ends in .gguf, else OUT/<model name>-<type>.gguf. */
export function outputPath(out: string, model: string, type: WeightType): string {
  if (out.toLowerCase().endsWith(".gguf")) return out;
  const name = path.basename(model.replace(/[/\\]+$/, "")).replace(/\.gguf$/i, "").replace(/-(f32|f16|bf16|q8_0|q4_0)$/i, "");
  return path.join(out, `${name}-${type}.gguf`);
}

export async function quantizeModel(o: QuantizeOptions): Promise<{ file: string; counts: Record<string, number>; bytes: number }> {
  const where = await modelPath(o);
  let config: OpenELMConfig, tensors: Map<string, StoredTensor>, vocab: GgufVocab | undefined;
  if (where.toLowerCase().endsWith(".gguf")) {
    const r = openGguf(where);
    // Block-quantized weights are already lossy: quantizing them again compounds the error (llama-quantize refuses too).
    const lossy = [...new Set(r.header.tensors.filter((t) => (ggmlTypeInfo(t.type)?.blockSize ?? 1) > 1).map((t) => t.typeName))];
    r.close();
    if (lossy.length > 0 && !o.allowRequantize)
      throw new InputError(`${where}: already quantized (${lossy.join(", ")} weights); quantizing again compounds the error. ` +
        `Quantize the original f32/f16/bf16 model instead, or pass --allow-requantize`);
    ({ config, tensors, vocab } = readGguf(where));
  } else {
    const ck = readCheckpoint(where);
    validateTensors(ck.config, ck.tensors, where);
    ({ config, tensors } = ck);
    // OpenELM uses the Llama-2 tokenizer; a directory may carry its own tokenizer.model.
    const own = path.join(where, "tokenizer.model");
    vocab = readTokenizerModelVocab(fs.existsSync(own) ? own : undefined);
    vocab.bosId = config.bos_token_id;
    vocab.eosId = config.eos_token_id;
  }
  if (vocab && vocab.tokens.length !== config.vocab_size) vocab = undefined; // not this model's vocabulary
  const file = outputPath(o.out, where, o.type);
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const out = quantizeTensors(tensors, o.type);
  const name = path.basename(where.replace(/[/\\]+$/, "")).replace(/\.gguf$/i, "");
  writeGguf(file, config, out, vocab, { name });
  const counts: Record<string, number> = {};
  for (const t of out.values()) counts[t.dtype] = (counts[t.dtype] ?? 0) + 1;
  return { file, counts, bytes: fs.statSync(file).size };
}

export function register(program: Command): void {
  program.command("quantize")
    .description("write a GGUF file with q8_0 / q4_0 (or f16, bf16, f32) weights, as llama.cpp's llama-quantize does")
    .option("-m, --model <dir|file.gguf|repo>", "model directory (config.json + safetensors), GGUF file, or hub id (default: the embedded model)")
    .requiredOption("-o, --out <file.gguf|dir>", "output GGUF file, or a directory to write <model>-<type>.gguf into")
    .requiredOption("--type <type>", `weight type: ${WEIGHT_TYPES.join(", ")}`, choiceArg(WEIGHT_TYPES))
    .option("--allow-requantize", "allow a GGUF whose weights are already quantized as input (as llama-quantize)")
    .action(async (o: QuantizeOptions) => {
      const t0 = Date.now();
      const r = await quantizeModel(o);
      const summary = Object.entries(r.counts).map(([d, n]) => `${n} ${d}`).join(", ");
      process.stdout.write(`wrote ${r.file}: ${(r.bytes / 2 ** 20).toFixed(2)} MiB, tensors ${summary} (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
    });
}
