// openelm bigram: the Kneser-Ney bigram baseline of a prepared training split, scored on its validation
// split (token perplexity) and, with --text, on a text file with lm-eval's perplexity metrics (the same
// tokens, EOS-prefixed, that `openelm perplexity` scores), so a trained model can be compared with it.

import type { Command } from "commander";
import * as fs from "node:fs";
import { BigramModel } from "../eval/bigram.js";
import { pythonSplitCount } from "../eval/python_str.js";
import { openTokenData } from "../train/data.js";
import { loadTokenizer } from "../tokenizer/sentencepiece.js";

export function register(program: Command): void {
  program.command("bigram")
    .description("perplexity of a Kneser-Ney bigram model of a prepared training split (a baseline to beat)")
    .requiredOption("--data <dir>", "prepared data directory (openelm data prepare)")
    .option("--text <file>", "also score this text file like `openelm perplexity` (word/byte perplexity, bits per byte)")
    .option("--json", "print one JSON object")
    .action(async (o: { data: string; text?: string; json?: boolean }) => {
      const data = openTokenData(o.data);
      const V = data.index.tokenizer.vocab_size, eos = data.index.tokenizer.eos_id;
      const lm = new BigramModel(V).fit(data.train);
      const out: Record<string, number> = { train_tokens: data.train.length };
      if (data.val.length > 1) {
        const ll = lm.sumLogProb(data.val.subarray(1), data.val[0]);
        out.val_tokens = data.val.length - 1;
        out.val_token_perplexity = Math.exp(-ll / (data.val.length - 1));
      }
      if (o.text) {
        const text = fs.readFileSync(o.text, "utf-8");
        const tok = await loadTokenizer();
        const ids = tok.encode(text);
        const ll = lm.sumLogProb(ids, eos);
        const bytes = Buffer.byteLength(text, "utf-8");
        Object.assign(out, { text_tokens: ids.length, token_perplexity: Math.exp(-ll / ids.length),
          word_perplexity: Math.exp(-ll / pythonSplitCount(text)), byte_perplexity: Math.exp(-ll / bytes), bits_per_byte: -ll / bytes / Math.LN2 });
      }
      if (o.json) process.stdout.write(JSON.stringify(out) + "\n");
      else for (const [k, v] of Object.entries(out)) process.stdout.write(`${k.padEnd(22)} ${Number.isInteger(v) ? v : v.toFixed(4)}\n`);
    });
}
