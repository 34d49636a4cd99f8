// HellaSwag (lm-eval `hellaswag`, validation; lm_eval/tasks/hellaswag/utils.py):
// query = pre(activity_label + ": " + ctx_a + " " + ctx_b.capitalize()), choices = pre(ending) for each ending,
// where pre = strip, " [title]" → ". ", delete every [...], one pass of "  " → " ".
// Local file: llama.cpp's hellaswag_val_full.txt (6 lines an item: "activity_label: ctx", gold, 4 endings). It lost
// the ctx_a / ctx_b split and the capitalisation; ctx is split at its last ". " (exact for ActivityNet items,
// which is all of the file's start; WikiHow items cannot be recovered from this format: use the HF parquet).

import { join } from "node:path";
import { DataError } from "../../errors.js";
import { readDataFile, splitLines } from "../jsonl.js";
import { pythonStrip } from "../python_str.js";
import type { Doc, MultipleChoiceTask } from "../task.js";

export interface HellaswagDoc extends Doc {
  activity_label: string;
  ctx_a: string;
  ctx_b: string;
  endings: string[];
  label: string;
}

const FILE = "hellaswag/hellaswag_val_full.txt";

/** lm-eval's `preprocess`. */
export function hellaswagPreprocess(text: string): string {
  return pythonStrip(text).replaceAll(" [title]", ". ").replace(/\[.*?\]/g, "").replaceAll("  ", " ");
}

/** Python `str.capitalize()`: first character upper-cased, the rest lower-cased. */
function capitalize(s: string): string {
  const [first = "", ...rest] = [...s];
  return first.toUpperCase() + rest.join("").toLowerCase();
}

export const hellaswag: MultipleChoiceTask<HellaswagDoc> = {
  name: "hellaswag",
  version: "1.0",
  metrics: ["acc", "acc_norm"],
  localFiles: [FILE],
  loadLocal(dataDir) {
    const path = join(dataDir, FILE);
    const lines = splitLines(readDataFile(path, "hellaswag"));
    if (lines.length % 6 !== 0)
      throw new DataError(`${path}: expected 6 lines per item (context, gold index, 4 endings), got ${lines.length} lines`);
    const docs: HellaswagDoc[] = [];
    for (let i = 0; i < lines.length; i += 6) {
      const head = lines[i];
      const colon = head.indexOf(": ");
      if (colon < 0) throw new DataError(`${path}:${i + 1}: expected "activity_label: context", got ${JSON.stringify(head.slice(0, 60))}`);
      const ctx = head.slice(colon + 2);
      const cut = ctx.lastIndexOf(". ");
      const label = lines[i + 1].trim();
      if (!/^[0-3]$/.test(label)) throw new DataError(`${path}:${i + 2}: expected the gold ending index 0 … 3, got ${JSON.stringify(lines[i + 1])}`);
      docs.push({
        activity_label: head.slice(0, colon),
        ctx_a: cut < 0 ? ctx : ctx.slice(0, cut + 1),
        ctx_b: cut < 0 ? "" : ctx.slice(cut + 2),
        endings: lines.slice(i + 2, i + 6),
        label,
      });
    }
    return { eval: { docs, source: path } };
  },
  hub: { repo: "Rowan/hellaswag", evalSplit: "validation", fewshotSplit: "train", sampler: "default", drawExtra: true },
  docToText: (doc) => hellaswagPreprocess(`${doc.activity_label}: ${doc.ctx_a} ${capitalize(doc.ctx_b)}`),
  docToChoice: (doc) => doc.endings.map(hellaswagPreprocess),
  docToTarget: (doc) => Number.parseInt(doc.label, 10),
};
