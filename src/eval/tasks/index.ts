// The task registry: lm-eval task names → task definitions and groups. Adding a task is one file in this
// folder and one line here; the request builder, scorer and metrics do not change.

import { InputError } from "../../errors.js";
import type { MultipleChoiceTask, TaskGroup } from "../task.js";
import { arcChallenge } from "./arc_challenge.js";
import { arcEasy } from "./arc_easy.js";
import { boolq } from "./boolq.js";
import { hellaswag } from "./hellaswag.js";
import { LLM_ADAPTERS_TASKS, llmAdaptersGroup } from "./llm_adapters.js";
import { MMLU_SUBJECTS, mmluGroup, mmluSubjectTask } from "./mmlu.js";
import { piqa } from "./piqa.js";
import { sciq } from "./sciq.js";
import { truthfulqaMc2 } from "./truthfulqa_mc2.js";
import { winogrande } from "./winogrande.js";

const SINGLE: Record<string, MultipleChoiceTask<any>> = {
  arc_easy: arcEasy,
  arc_challenge: arcChallenge,
  boolq,
  hellaswag,
  piqa,
  sciq,
  truthfulqa_mc2: truthfulqaMc2,
  winogrande,
  ...LLM_ADAPTERS_TASKS,
};

const MMLU_CATEGORIES = ["mmlu_stem", "mmlu_other", "mmlu_social_sciences", "mmlu_humanities"];

/** Names for the unknown-task message: single tasks, groups, and MMLU subjects folded into one entry. */
export function knownTaskNames(): string[] {
  const adapters = Object.keys(LLM_ADAPTERS_TASKS);
  return [...Object.keys(SINGLE).filter((n) => !adapters.includes(n)), "mmlu", ...MMLU_CATEGORIES, "llmadapters_commonsense",
    `llmadapters_<task> (${adapters.map((n) => n.slice("llmadapters_".length)).join(", ")})`,
    `mmlu_<subject> (${Object.keys(MMLU_SUBJECTS).length} subjects, e.g. mmlu_abstract_algebra)`].sort();
}

/** A task or group by its lm-eval name; InputError listing the known names otherwise. */
export function resolveTask(name: string): MultipleChoiceTask<any> | TaskGroup {
  if (SINGLE[name]) return SINGLE[name];
  if (name === "mmlu") return mmluGroup();
  if (name === "llmadapters_commonsense") return llmAdaptersGroup();
  const category = MMLU_CATEGORIES.indexOf(name);
  if (category >= 0) return mmluGroup().members[category];
  if (name.startsWith("mmlu_") && MMLU_SUBJECTS[name.slice(5)]) return mmluSubjectTask(name.slice(5));
  throw new InputError(`unknown task "${name}"; known tasks: ${knownTaskNames().join(", ")}`);
}
