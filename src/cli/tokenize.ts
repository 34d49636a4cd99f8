// openelm tokenize / detokenize: text <-> Llama-2 token ids.

import type { Command } from "commander";
import { InputError } from "../errors.js";
import { loadTokenizer } from "../tokenizer/sentencepiece.js";
import { idsArg, readStdin } from "./args.js";

/** The non-blank lines of stdin with their 1-based line numbers (for error messages). */
function jsonLines(text: string): Array<{ line: string; n: number }> {
  return text.split("\n").map((line, i) => ({ line, n: i + 1 })).filter((l) => l.line.trim() !== "");
}

/** A line for an error message: at most 40 characters of it, JSON-quoted. */
function shown(line: string): string {
  return JSON.stringify(line.length > 40 ? line.slice(0, 40) + "…" : line);
}

export function register(program: Command): void {
  program.command("tokenize")
    .description("print the token ids of TEXT as a JSON array (no BOS unless --bos)")
    .argument("[text]", "text to tokenize (default: stdin)")
    .option("--tokenizer <file>", "SentencePiece tokenizer.model (default: bundled Llama-2)")
    .option("--bos", "prepend BOS (id 1), as the model sees prompts")
    .option("--jsonl", "read JSON strings, one per stdin line; print one JSON array per line")
    .action(async (text: string | undefined, o: { tokenizer?: string; bos?: boolean; jsonl?: boolean }) => {
      const tok = await loadTokenizer(o.tokenizer);
      if (o.jsonl) {
        const out: string[] = [];
        jsonLines(await readStdin()).forEach(({ line, n }) => {
          let s: unknown;
          const want = `expected one JSON string per line (--jsonl), e.g. "Hello world" with the quotes`;
          try { s = JSON.parse(line); } catch { throw new InputError(`<stdin>:${n}: ${want}; got ${shown(line)}, which is not JSON`); }
          if (typeof s !== "string") throw new InputError(`<stdin>:${n}: ${want}; got a JSON ${Array.isArray(s) ? "array" : s === null ? "null" : typeof s}`);
          out.push(JSON.stringify(tok.encode(s, { bos: !!o.bos })));
        });
        process.stdout.write(out.map((l) => l + "\n").join(""));
        return;
      }
      const input = text ?? (await readStdin());
      process.stdout.write(JSON.stringify(tok.encode(input, { bos: !!o.bos })) + "\n");
    });

  program.command("detokenize")
    .description("print the text of token ids (comma-separated or a JSON array)")
    .argument("[ids]", "token ids, e.g. 1,450,4996 (default: stdin)")
    .option("--tokenizer <file>", "SentencePiece tokenizer.model (default: bundled Llama-2)")
    .option("--jsonl", "read JSON arrays of ids, one per stdin line; print one JSON string per line")
    .action(async (ids: string | undefined, o: { tokenizer?: string; jsonl?: boolean }) => {
      const tok = await loadTokenizer(o.tokenizer);
      if (o.jsonl) {
        const out: string[] = [];
        jsonLines(await readStdin()).forEach(({ line, n }) => {
          let a: unknown;
          const want = "expected one JSON array of integer token ids per line (--jsonl), e.g. [15043,3186]";
          try { a = JSON.parse(line); } catch { throw new InputError(`<stdin>:${n}: ${want}; got ${shown(line)}, which is not JSON`); }
          if (!Array.isArray(a) || !a.every((x) => Number.isInteger(x))) throw new InputError(`<stdin>:${n}: ${want}; got ${shown(line)}`);
          out.push(JSON.stringify(tok.decode(a)));
        });
        process.stdout.write(out.map((l) => l + "\n").join(""));
        return;
      }
      const src = ids ?? (await readStdin()).trim();
      let list: number[];
      try { list = idsArg(src); } catch (e) { throw new InputError(`ids: ${(e as Error).message}`); }
      process.stdout.write(tok.decode(list) + "\n");
    });
}
