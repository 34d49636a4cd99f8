// WinoGrande (lm-eval `winogrande`, winogrande_xl validation; preprocess_winogrande.py), partial scoring:
// the sentence is cut at "_"; the two contexts are prefix + option1 / prefix + option2 (doc_to_choice), the one
// continuation is " " + the text after "_", stripped (doc_to_target); doc_to_text returns the gold index.
// Local file: WinoGrande 1.1 dev.jsonl ({"sentence", "option1", "option2", "answer": "1"|"2"}).

import { join } from "node:path";
import { DataError } from "../../errors.js";
import { describe, readJsonl, stringField } from "../jsonl.js";
import { pythonStrip } from "../python_str.js";
import type { Doc, MultipleChoiceTask } from "../task.js";

export interface WinograndeDoc extends Doc {
  sentence: string;
  option1: string;
  option2: string;
  answer: string;
}

const FILE = "winogrande/dev.jsonl";

export const winogrande: MultipleChoiceTask<WinograndeDoc> = {
  name: "winogrande",
  version: "1.0",
  metrics: ["acc"],
  localFiles: [FILE],
  loadLocal(dataDir) {
    const path = join(dataDir, FILE);
    const docs = readJsonl(path, "winogrande").map(({ value, line }) => {
      const where = `${path}:${line}`;
      const sentence = stringField(value, "sentence", where);
      if (!sentence.includes("_")) throw new DataError(`${where}: field "sentence" has no "_" blank`);
      const answer = value.answer;
      if (answer !== "1" && answer !== "2") throw new DataError(`${where}: field "answer" must be "1" or "2", got ${describe(answer)}`);
      return { sentence, option1: stringField(value, "option1", where), option2: stringField(value, "option2", where), answer };
    });
    return { eval: { docs, source: path } };
  },
  hub: { repo: "allenai/winogrande", config: "winogrande_xl", evalSplit: "validation", fewshotSplit: "train", sampler: "default", drawExtra: true,
    files: { include: ["winogrande_xl/*"] } },
  docToText: (doc) => (doc.answer === "1" ? 0 : 1),
  docToChoice: (doc) => {
    const prefix = doc.sentence.slice(0, doc.sentence.indexOf("_"));
    return [prefix + doc.option1, prefix + doc.option2];
  },
  docToTarget: (doc) => pythonStrip(doc.sentence.slice(doc.sentence.indexOf("_") + 1)),
};
