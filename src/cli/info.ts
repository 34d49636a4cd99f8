// openelm info: per-layer sizes, parameter count, dtype and memory of a model or a published config.

import type { Command } from "commander";
import { InputError } from "../errors.js";
import { readConfig, weightFiles } from "../io/model_dir.js";
import { readSafetensorsHeader } from "../io/safetensors.js";
import { layerSizes, parameterCount, type OpenELMConfig } from "../models/config.js";
import { resolveConfig } from "../models/registry.js";

export function modelInfo(c: OpenELMConfig, dtype: string, weightBytes: number) {
  const layers = c.num_query_heads.map((_, i) => {
    const s = layerSizes(c, i);
    return { layer: i, query_heads: s.nQ, kv_heads: s.nKV, ffn_dim: s.ffnDim };
  });
  const kvPerToken = layers.reduce((a, l) => a + 2 * l.kv_heads * c.head_dim * 4, 0);
  const kvBytes = kvPerToken * c.max_context_length;
  return { parameter_count: parameterCount(c), dtype, weights_bytes: weightBytes, kv_cache_bytes: kvBytes,
    memory_bytes: weightBytes + kvBytes, num_transformer_layers: c.num_transformer_layers, model_dim: c.model_dim,
    head_dim: c.head_dim, vocab_size: c.vocab_size, max_context_length: c.max_context_length,
    rope_freq_constant: c.rope_freq_constant, tied_embeddings: c.share_input_output_layers, layers };
}

const mb = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

export function register(program: Command): void {
  program.command("info")
    .description("show per-layer heads, KV heads and FFN widths, parameter count, dtype and memory")
    .option("-m, --model <dir>", "model directory")
    .option("--config <name|file>", "published config name or config.json")
    .option("--json", "print one JSON object")
    .action((o: { model?: string; config?: string; json?: boolean }) => {
      if (!o.model === !o.config) throw new InputError("give exactly one of --model DIR or --config NAME");
      let c: OpenELMConfig, dtype: string, bytes: number;
      if (o.model) {
        c = readConfig(o.model);
        const entries = weightFiles(o.model).flatMap((f) => readSafetensorsHeader(f)); // headers only, no weights read
        dtype = [...new Set(entries.map((t) => t.dtype))].join("+");
        bytes = entries.reduce((a, t) => a + t.bytes, 0);
      } else {
        c = resolveConfig(o.config!);
        dtype = c.torch_dtype === "bfloat16" ? "bf16" : "f32";
        bytes = parameterCount(c) * (dtype === "bf16" ? 2 : 4);
      }
      const info = modelInfo(c, dtype, bytes);
      if (o.json) { process.stdout.write(JSON.stringify(info) + "\n"); return; }
      const lines = [
        `parameters: ${info.parameter_count.toLocaleString("en-US")}   dtype: ${dtype}   layers: ${c.num_transformer_layers}   model_dim: ${c.model_dim}   head_dim: ${c.head_dim}   vocab: ${c.vocab_size}`,
        `memory: weights ${mb(bytes)} + KV cache ${mb(info.kv_cache_bytes)} (f32, ${c.max_context_length} tokens) = ${mb(info.memory_bytes)}`,
        "layer  q_heads  kv_heads  ffn_dim",
        ...info.layers.map((l) => `${String(l.layer).padStart(5)}  ${String(l.query_heads).padStart(7)}  ${String(l.kv_heads).padStart(8)}  ${String(l.ffn_dim).padStart(7)}`),
      ];
      process.stdout.write(lines.join("\n") + "\n");
    });
}
