// PIQA (lm-eval `piqa`, validation): "Question: {goal}\nAnswer:" → " {sol1}" / " {sol2}", solutions used as they are
// (some end with a space or hold double spaces; they count in tokens and in acc_norm's length).
// Local files: the official valid.jsonl plus valid-labels.lst (one 0/1 per line, same order).

import { join } from "node:path";
import { DataError } from "../../errors.js";
import { readDataFile, readJsonl, splitLines, stringField } from "../jsonl.js";
import type { Doc, MultipleChoiceTask } from "../task.js";

export interface PiqaDoc extends Doc {
  goal: string;
  sol1: string;
  sol2: string;
  label: number;
}

const FILE = "piqa/valid.jsonl";
const LABELS = "piqa/valid-labels.lst";

export const piqa: MultipleChoiceTask<PiqaDoc> = {
  name: "piqa",
  version: "1.0",
  metrics: ["acc", "acc_norm"],
  localFiles: [FILE, LABELS],
  loadLocal(dataDir) {
    const path = join(dataDir, FILE);
    const labelsPath = join(dataDir, LABELS);
    const rows = readJsonl(path, "piqa");
    const labels = splitLines(readDataFile(labelsPath, "piqa"));
    if (labels.length !== rows.length)
      throw new DataError(`${labelsPath}: has ${labels.length} labels, ${path} has ${rows.length} rows`);
    const docs = rows.map(({ value, line }, i) => {
      const where = `${path}:${line}`;
      const label = labels[i].trim();
      if (label !== "0" && label !== "1") throw new DataError(`${labelsPath}:${i + 1}: expected 0 or 1, got ${JSON.stringify(labels[i])}`);
      return { goal: stringField(value, "goal", where), sol1: stringField(value, "sol1", where), sol2: stringField(value, "sol2", where), label: Number(label) };
    });
    return { eval: { docs, source: path } };
  },
  hub: { repo: "ybisk/piqa", evalSplit: "validation", fewshotSplit: "train", sampler: "default", drawExtra: true,
    files: { revision: "refs/convert/parquet", include: ["plain_text/**"] } },
  docToText: (doc) => `Question: ${doc.goal}\nAnswer:`,
  docToChoice: (doc) => [doc.sol1, doc.sol2],
  docToTarget: (doc) => doc.label,
};
