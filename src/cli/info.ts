// openelm info: per-layer sizes, parameter count, dtype and memory of a model or a published config.

import type { Command } from "commander";
import { openGgufCheckpoint } from "../io/gguf_openelm.js";
import { readConfig, weightFiles } from "../io/model_dir.js";
import { readSafetensorsHeader } from "../io/safetensors.js";
import { layerSizes, parameterCount, type OpenELMConfig } from "../models/config.js";
import { resolveConfig } from "../models/registry.js";
import { bytesFor, numel } from "../tensor/tensor.js";
import { UsageError } from "./args.js";
import { modelPath } from "./model_args.js";

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
    .option("-m, --model <dir|file.gguf|repo>", "model directory, GGUF file, or hub id (default: the embedded model)")
    .option("--config <name|file>", "published config name or config.json (instead of --model)")
    .option("--json", "print one JSON object")
    .action(async (o: { model?: string; config?: string; json?: boolean }) => {
      if (o.model !== undefined && o.config !== undefined) throw new UsageError("give --model or --config, not both");
      let c: OpenELMConfig, dtype: string, bytes: number;
      if (o.config === undefined) {
        const where = await modelPath(o); // headers only below: no weights are read
        let entries: Array<{ dtype: string; bytes: number }>;
        if (where.endsWith(".gguf")) {
          const ck = openGgufCheckpoint(where);
          ck.close();
          c = ck.config;
          entries = [...ck.tensors.values()].map((t) => ({ dtype: t.dtype, bytes: bytesFor(t.dtype, numel(t.shape)) }));
        } else {
          c = readConfig(where);
          entries = weightFiles(where).flatMap((f) => readSafetensorsHeader(f));
        }
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
