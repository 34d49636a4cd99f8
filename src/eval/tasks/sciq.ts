// SciQ (lm-eval `sciq`, allenai/sciq test): "{support.lstrip()}\nQuestion: {question}\nAnswer:" →
// " {distractor1}", " {distractor2}", " {distractor3}", " {correct_answer}"; gold is always 3.
// No local copy ships with the project; the original release's test.json (a JSON list of records) is read
// from <data-dir>/sciq/test.json, or the HF parquet from the cache.

import { join } from "node:path";
import { DataError } from "../../errors.js";
import { readJson, stringField } from "../jsonl.js";
import { pythonLstrip } from "../python_str.js";
import type { Doc, MultipleChoiceTask } from "../task.js";

export interface SciqDoc extends Doc {
  question: string;
  distractor1: string;
  distractor2: string;
  distractor3: string;
  correct_answer: string;
  support: string;
}

const FILE = "sciq/test.json";
const FIELDS = ["question", "distractor1", "distractor2", "distractor3", "correct_answer", "support"] as const;

export const sciq: MultipleChoiceTask<SciqDoc> = {
  name: "sciq",
  version: "1.0",
  metrics: ["acc", "acc_norm"],
  localFiles: [FILE],
  loadLocal(dataDir) {
    const path = join(dataDir, FILE);
    const all = readJson(path, "sciq");
    if (!Array.isArray(all)) throw new DataError(`${path}: expected a JSON list of questions`);
    const docs = all.map((row, i) => {
      const where = `${path}: item ${i}`;
      if (row === null || typeof row !== "object") throw new DataError(`${where}: expected an object`);
      const doc = {} as SciqDoc;
      for (const f of FIELDS) doc[f] = stringField(row as Record<string, unknown>, f, where);
      return doc;
    });
    return { eval: { docs, source: path } };
  },
  hub: { repo: "allenai/sciq", evalSplit: "test", fewshotSplit: "train", sampler: "default", drawExtra: false },
  docToText: (doc) => `${pythonLstrip(doc.support)}\nQuestion: ${doc.question}\nAnswer:`,
  docToChoice: (doc) => [doc.distractor1, doc.distractor2, doc.distractor3, doc.correct_answer],
  docToTarget: () => 3,
};
