// openelm data prepare: text / jsonl files -> uint16 token shards + index.json for `openelm train`.

import * as os from "node:os";
import { Presets, SingleBar } from "cli-progress";
import type { Command } from "commander";
import { loadTokenizer } from "../tokenizer/sentencepiece.js";
import { prepareData } from "../train/data.js";
import { canTokenizeInParallel, encodeParallel } from "../train/tokenize_parallel.js";
import { floatArg, intArg } from "./args.js";

export function register(program: Command): void {
  const data = program.command("data").description("prepare training data");
  data.command("prepare")
    .description("tokenize .txt (documents split at blank lines) / .jsonl ({\"text\": ...} per line) files into uint16 shards")
    .requiredOption("--input <files...>", "input files or globs (dir/*.txt, dir/**)")
    .requiredOption("--out <dir>", "output directory (index.json + train-*.bin, val-*.bin)")
    .option("--tokenizer <file>", "SentencePiece tokenizer.model (default: bundled Llama-2)")
    .option("--val-fraction <f>", "share of documents (or, with few documents, of each document's tail) held out for validation", floatArg(0, 0.99), 0)
    .option("--val-input <files...>", "explicit validation files (instead of --val-fraction)")
    .option("--threads <n>", "tokenizer worker threads", intArg(1), Math.max(1, Math.min(4, os.availableParallelism?.() ?? 1)))
    .action(async (o: { input: string[]; out: string; tokenizer?: string; valFraction: number; valInput?: string[]; threads: number }) => {
      const tok = await loadTokenizer(o.tokenizer);
      const encoder = { vocabSize: tok.vocabSize, bosId: tok.bosId, eosId: tok.eosId, source: tok.source, encode: tok.encode.bind(tok) };
      const bar = process.stderr.isTTY ? new SingleBar({ format: "tokenizing [{bar}] {value}/{total} documents | {duration_formatted}" }, Presets.shades_classic) : null;
      let started = false;
      const index = await prepareData({
        inputs: o.input, out: o.out, encoder, valFraction: o.valFraction, valInputs: o.valInput,
        encodeAll: o.threads > 1 && canTokenizeInParallel() ? (docs, onDone) => encodeParallel(docs, o.tokenizer, o.threads, onDone) : undefined,
        onProgress: (done, total) => {
          if (!bar) return;
          if (!started) { bar.start(total, 0); started = true; }
          bar.update(done);
        },
      });
      bar?.stop();
      process.stdout.write(`${o.out}: ${index.tokens.train} train tokens (${index.documents.train} documents, ${index.shards.train.length} shards), ` +
        `${index.tokens.val} validation tokens (${index.documents.val} documents)\n`);
    });
}
