// ARC-Easy (lm-eval `arc_easy`, allenai/ai2_arc ARC-Easy test): "Question: {question}\nAnswer:" → " {choice}".
// Local file: llm-foundry's converted copy ({"query": "Question: …", "choices": [...], "gold": i}), same order.

import { join } from "node:path";
import { DataError } from "../../errors.js";
import { indexField, readJsonl, stringField, stringListField } from "../jsonl.js";
import type { Doc, MultipleChoiceTask } from "../task.js";

/** HF ai2_arc fields; `gold` replaces answerKey where the local copy lost the labels. */
export interface ArcDoc extends Doc {
  question: string;
  choices: { text: string[]; label?: string[] };
  answerKey?: string;
  gold?: number;
}

/** ARC-Easy and ARC-Challenge differ only in the dataset config and the file. */
export function arcTask(name: string, config: string, file: string): MultipleChoiceTask<ArcDoc> {
  return {
    name,
    version: "1.0",
    metrics: ["acc", "acc_norm"],
    localFiles: [file],
    loadLocal(dataDir) {
      const path = join(dataDir, file);
      const docs = readJsonl(path, name).map(({ value, line }) => {
        const where = `${path}:${line}`;
        const query = stringField(value, "query", where);
        if (!query.startsWith("Question: ")) throw new DataError(`${where}: field "query" must start with "Question: "`);
        const text = stringListField(value, "choices", where);
        return { question: query.slice("Question: ".length), choices: { text }, gold: indexField(value, "gold", text.length, where) };
      });
      return { eval: { docs, source: path } };
    },
    hub: { repo: "allenai/ai2_arc", config, evalSplit: "test", fewshotSplit: "train", sampler: "default", drawExtra: false, files: { include: [`${config}/*`] } },
    docToText: (doc) => `Question: ${doc.question}\nAnswer:`,
    docToChoice: (doc) => doc.choices.text,
    docToTarget: (doc) => doc.gold ?? (doc.choices.label ?? []).indexOf(doc.answerKey ?? ""),
  };
}

export const arcEasy = arcTask("arc_easy", "ARC-Easy", "arc_easy/arc_easy_test.llmfoundry.jsonl");
