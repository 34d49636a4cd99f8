// BoolQ (lm-eval `boolq`, super_glue/boolq validation): "{passage}\nQuestion: {question}?\nAnswer:" → " no" / " yes".
// SuperGLUE's passage is "{title} -- {passage}" of the original BoolQ record, which is what the local dev.jsonl holds.

import { join } from "node:path";
import { DataError } from "../../errors.js";
import { describe, readJsonl, stringField } from "../jsonl.js";
import type { Doc, MultipleChoiceTask } from "../task.js";

export interface BoolqDoc extends Doc {
  question: string;
  passage: string;
  label: number;
}

const FILE = "boolq/dev.jsonl";

export const boolq: MultipleChoiceTask<BoolqDoc> = {
  name: "boolq",
  version: "2.0",
  metrics: ["acc"],
  localFiles: [FILE],
  loadLocal(dataDir) {
    const path = join(dataDir, FILE);
    const docs = readJsonl(path, "boolq").map(({ value, line }) => {
      const where = `${path}:${line}`;
      const answer = value.answer;
      if (typeof answer !== "boolean") throw new DataError(`${where}: field "answer" must be true or false, got ${describe(answer)}`);
      const passage = `${stringField(value, "title", where)} -- ${stringField(value, "passage", where)}`;
      return { question: stringField(value, "question", where), passage, label: answer ? 1 : 0 };
    });
    return { eval: { docs, source: path } };
  },
  hub: { repo: "super_glue", config: "boolq", evalSplit: "validation", fewshotSplit: "train", sampler: "default", drawExtra: true },
  docToText: (doc) => `${doc.passage}\nQuestion: ${doc.question}?\nAnswer:`,
  docToChoice: () => ["no", "yes"],
  docToTarget: (doc) => doc.label,
};
