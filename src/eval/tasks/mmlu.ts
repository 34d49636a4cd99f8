// MMLU (lm-eval `mmlu_<subject>` and the `mmlu` group, hails/mmlu_no_train = cais/mmlu): description
// "The following are multiple choice questions (with answers) about {subject}.\n" (the YAML's "\n\n" minus the one
// newline Jinja's keep_trailing_newline=False eats at dc90fec), then shots = the first k rows of dev (first_n),
// then "{question.strip()}\nA. …\nB. …\nC. …\nD. …\nAnswer:" → " A" … " D". Group: mmlu → stem, other,
// social_sciences, humanities → subjects (the dc90fec YAMLs). Local files: hendrycks CSVs, no header.

import { join } from "node:path";
import { DataError } from "../../errors.js";
import { parseCsv } from "../csv.js";
import { readDataFile } from "../jsonl.js";
import { pythonStrip } from "../python_str.js";
import type { Doc, MultipleChoiceTask, TaskGroup } from "../task.js";

export interface MmluDoc extends Doc {
  question: string;
  subject: string;
  choices: string[];
  answer: number;
}

/** Subject → lm-eval category group (lm_eval/tasks/mmlu/default/mmlu_<subject>.yaml `group`). */
export const MMLU_SUBJECTS: Record<string, "stem" | "other" | "social_sciences" | "humanities"> = {
  abstract_algebra: "stem", anatomy: "stem", astronomy: "stem", business_ethics: "other", clinical_knowledge: "other",
  college_biology: "stem", college_chemistry: "stem", college_computer_science: "stem", college_mathematics: "stem",
  college_medicine: "other", college_physics: "stem", computer_security: "stem", conceptual_physics: "stem",
  econometrics: "social_sciences", electrical_engineering: "stem", elementary_mathematics: "stem",
  formal_logic: "humanities", global_facts: "other", high_school_biology: "stem", high_school_chemistry: "stem",
  high_school_computer_science: "stem", high_school_european_history: "humanities",
  high_school_geography: "social_sciences", high_school_government_and_politics: "social_sciences",
  high_school_macroeconomics: "social_sciences", high_school_mathematics: "stem",
  high_school_microeconomics: "social_sciences", high_school_physics: "stem", high_school_psychology: "social_sciences",
  high_school_statistics: "stem", high_school_us_history: "humanities", high_school_world_history: "humanities",
  human_aging: "other", human_sexuality: "social_sciences", international_law: "humanities", jurisprudence: "humanities",
  logical_fallacies: "humanities", machine_learning: "stem", management: "other", marketing: "other",
  medical_genetics: "other", miscellaneous: "other", moral_disputes: "humanities", moral_scenarios: "humanities",
  nutrition: "other", philosophy: "humanities", prehistory: "humanities", professional_accounting: "other",
  professional_law: "humanities", professional_medicine: "other", professional_psychology: "social_sciences",
  public_relations: "social_sciences", security_studies: "social_sciences", sociology: "social_sciences",
  us_foreign_policy: "social_sciences", virology: "other", world_religions: "humanities",
};

const LETTERS = ["A", "B", "C", "D"];

function readCsvSplit(dataDir: string, subject: string, split: "test" | "dev", task: string): { docs: MmluDoc[]; source: string } {
  const path = join(dataDir, "mmlu", split, `${subject}_${split}.csv`);
  const docs = parseCsv(readDataFile(path, task), path).map(({ fields, line }) => {
    if (fields.length !== 6) throw new DataError(`${path}:${line}: expected 6 columns (question, A, B, C, D, answer), got ${fields.length}`);
    const answer = LETTERS.indexOf(fields[5].trim());
    if (answer < 0) throw new DataError(`${path}:${line}: answer must be A, B, C or D, got ${JSON.stringify(fields[5])}`);
    return { question: fields[0], subject, choices: fields.slice(1, 5), answer };
  });
  return { docs, source: path };
}

export function mmluSubjectTask(subject: string): MultipleChoiceTask<MmluDoc> {
  const name = `mmlu_${subject}`;
  return {
    name,
    version: "0.0",
    metrics: ["acc"],
    description: `The following are multiple choice questions (with answers) about ${subject.replaceAll("_", " ")}.\n`,
    localFiles: [`mmlu/test/${subject}_test.csv`, `mmlu/dev/${subject}_dev.csv`],
    loadLocal(dataDir) {
      const dev = readCsvSplit(dataDir, subject, "dev", name);
      return { eval: readCsvSplit(dataDir, subject, "test", name), fewshot: { ...dev, sampler: "first_n", drawExtra: false } };
    },
    hub: { repo: "hails/mmlu_no_train", config: subject, evalSplit: "test", fewshotSplit: "dev", sampler: "first_n", drawExtra: false },
    docToText: (doc) =>
      `${pythonStrip(doc.question)}\n${doc.choices.map((c, i) => `${LETTERS[i]}. ${c}`).join("\n")}\nAnswer:`,
    docToChoice: () => LETTERS,
    docToTarget: (doc) => doc.answer,
  };
}

/** The `mmlu` group as lm-eval nests it: categories, then subjects. */
export function mmluGroup(): TaskGroup {
  const categories = ["stem", "other", "social_sciences", "humanities"];
  return {
    name: "mmlu",
    members: categories.map((cat) => ({
      name: `mmlu_${cat}`,
      members: Object.keys(MMLU_SUBJECTS).filter((s) => MMLU_SUBJECTS[s] === cat).map(mmluSubjectTask),
    })),
  };
}
