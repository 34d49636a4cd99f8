// openelm merge: write a checkpoint with a PEFT LoRA / DoRA adapter merged into its weights (PEFT's
// merge_and_unload): a Hugging Face model directory, or a GGUF file when --out ends in .gguf. Merged weights keep
// the base's dtype (a quantized base's merged matrices are quantized again the same way); other tensors are
// copied unchanged, and so are a directory's other files (tokenizer, generation config).

import type { Command } from "commander";
import * as fs from "node:fs";
import * as path from "node:path";
import { InputError } from "../errors.js";
import { writeFileAtomic } from "../io/atomic_write.js";
import { readGguf, storedToFloat32, writeGguf } from "../io/gguf_openelm.js";
import { encodeAs } from "../io/gguf_quantize.js";
import { readTokenizerModelVocab, tokenizerModelFromVocab, type GgufVocab } from "../io/gguf_vocab.js";
import { openCheckpointDir } from "../io/model_dir.js";
import { readPeftAdapter } from "../io/peft_adapter.js";
import { writeSafetensorsStreaming } from "../io/safetensors.js";
import { configToJson, type OpenELMConfig } from "../models/config.js";
import { mergeAdapterTensors } from "../models/adapter.js";
import { validateTensors } from "../models/load.js";
import { modelSource } from "./model_args.js";
import type { StoredTensor } from "../tensor/tensor.js";

interface MergeOptions { model: string; adapter?: string; out: string }

/** Files of a model directory that are not weights (copied next to the merged weights). */
const WEIGHT_FILE = /^model(-\d+-of-\d+)?\.safetensors$|^model\.safetensors\.index\.json$/;

export async function mergeModel(o: MergeOptions): Promise<{ out: string; merged: number }> {
  const src = await modelSource({ model: o.model, adapter: o.adapter !== undefined ? [o.adapter] : [] });
  if (src.adapter === undefined) throw new InputError(`merge: give --adapter DIR (the PEFT adapter to merge into --model ${o.model})`);
  const where = src.dir, adapterDir = src.adapter;
  const gguf = where.toLowerCase().endsWith(".gguf");
  let config: OpenELMConfig, tensors: Map<string, StoredTensor>, vocab: GgufVocab | undefined;
  let close = () => {};
  if (gguf) ({ config, tensors, vocab } = readGguf(where));
  else {
    // Tensors are read from the files as the writer asks for them: one weight (and one merged matrix) at a time.
    const ck = openCheckpointDir(where);
    close = ck.close;
    validateTensors(ck.config, ck.tensors, where);
    ({ config, tensors } = ck);
  }
  try {
    return write({ ...o, adapter: adapterDir }, where, gguf, config, tensors, vocab);
  } finally {
    close();
  }
}

function write(o: Required<MergeOptions>, where: string, gguf: boolean, config: OpenELMConfig, tensors: Map<string, StoredTensor>,
  vocab: GgufVocab | undefined): { out: string; merged: number } {
  const adapter = readPeftAdapter(o.adapter, config);
  // A merged matrix keeps its base's dtype: W' = W + ΔW is what PEFT's merge writes into the weight in place.
  const merged = mergeAdapterTensors(tensors, adapter, storedToFloat32, (base, f) => encodeAs(base.dtype, f));
  const count = adapter.layers.reduce((n, l) => n + Object.keys(l).length, 0);

  if (o.out.toLowerCase().endsWith(".gguf")) {
    if (!vocab) {
      const own = gguf ? undefined : path.join(where, "tokenizer.model");
      vocab = readTokenizerModelVocab(own && fs.existsSync(own) ? own : undefined);
      vocab.bosId = config.bos_token_id;
      vocab.eosId = config.eos_token_id;
    }
    if (vocab.tokens.length !== config.vocab_size) vocab = undefined;
    fs.mkdirSync(path.dirname(path.resolve(o.out)), { recursive: true });
    writeGguf(o.out, config, merged, vocab, { name: path.basename(o.out).replace(/\.gguf$/i, "") });
    return { out: o.out, merged: count };
  }

  // A Hugging Face directory: plain dtypes only (a quantized GGUF base is written widened to F32).
  const quantized = (t: StoredTensor) => t.dtype === "q8_0" || t.dtype === "q4_0";
  if (path.resolve(o.out) === path.resolve(where)) throw new InputError(`--out: ${o.out} is the base model's directory; choose a new one`);
  fs.mkdirSync(o.out, { recursive: true });
  const specs = [...merged.values()].map((t) => ({ name: t.name, dtype: quantized(t) ? "f32" as const : t.dtype, shape: t.shape }))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
  writeSafetensorsStreaming(path.join(o.out, "model.safetensors"), specs, (s) => {
    const t = merged.get(s.name)!;
    return quantized(t) ? encodeAs("f32", storedToFloat32(t)) : t.data;
  });
  if (gguf) {
    writeFileAtomic(path.join(o.out, "config.json"), configToJson(config));
    writeFileAtomic(path.join(o.out, "generation_config.json"),
      JSON.stringify({ bos_token_id: config.bos_token_id, eos_token_id: config.eos_token_id }, null, 2) + "\n");
    if (vocab) writeFileAtomic(path.join(o.out, "tokenizer.model"), tokenizerModelFromVocab(vocab));
  } else {
    for (const f of fs.readdirSync(where)) {
      const src = path.join(where, f);
      if (WEIGHT_FILE.test(f) || !fs.statSync(src).isFile()) continue;
      writeFileAtomic(path.join(o.out, f), fs.readFileSync(src));
    }
  }
  // A stale shard index from an earlier output would point the loader at other files.
  fs.rmSync(path.join(o.out, "model.safetensors.index.json"), { force: true });
  return { out: o.out, merged: count };
}

export function register(program: Command): void {
  program.command("merge")
    .description("merge a PEFT LoRA / DoRA adapter into the weights: a model directory, or a GGUF file when --out ends in .gguf")
    .requiredOption("-m, --model <dir|file.gguf|repo>", "base model directory, GGUF file, hub id, or default-instruct (which brings its adapter)")
    .option("--adapter <dir>", "PEFT adapter directory (adapter_config.json + adapter_model.safetensors)")
    .requiredOption("-o, --out <dir|file.gguf>", "output model directory, or GGUF file")
    .action(async (o: MergeOptions) => {
      const t0 = Date.now();
      const r = await mergeModel(o);
      process.stdout.write(`wrote ${r.out}: ${r.merged} adapted matrices merged (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
    });
}
