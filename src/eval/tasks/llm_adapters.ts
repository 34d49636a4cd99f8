// The commonsense test sets of LLM-Adapters (AGI-Edgerunners/LLM-Adapters @ 8166572, dataset/<task>/test.json),
// scored as Apple's CoreNet scores its OpenELM PEFT models (projects/openelm/README-peft.md;
// corenet/cli/main_eval_llmadapters.py, multiple-choice mode): no regex parsing of generated text, but the
// log-likelihood of each answer option.
//   context      = the training prompt with an empty response (corenet commonsense_170k.generate_prompt_and_response,
//                  the no-input form, whitespace exactly as there: "…request.  \n\n" and 16-space indents)
//   continuation = "the correct answer is {option}", no delimiter; options from the instruction's last line
//                  ("Answer format: true/false" → true, false; "…: answer1/…/answer4" → answer1 … answer4; likewise
//                  ending, option, solution; the count is the last character)
//   acc = argmax of the log-likelihoods; acc_norm = argmax of log-likelihood / len(continuation) in characters.
// Tokens and scoring are lm-eval's HFLM with add_bos_token=True (CoreNet's lm_eval_wrapper.add_sot_token), which
// eval/requests.ts implements. CoreNet shuffles each set with random.seed(83652) before taking --limit documents;
// the documents are in that order here, so --limit N scores the same N questions.
// Data: <data-dir>/<task>/test.json (LLM-Adapters' dataset/ layout, which CoreNet's dataset_dir uses).

import { join } from "node:path";
import { DataError } from "../../errors.js";
import { describe, readJson } from "../jsonl.js";
import { PythonRandom } from "../python_random.js";
import type { Doc, MultipleChoiceTask, TaskGroup } from "../task.js";

export interface LlmAdaptersDoc extends Doc {
  instruction: string;
  answer: string;
  /** The answer options of the instruction's "Answer format:" line. */
  options: string[];
}

/** corenet commonsense_170k.generate_prompt_and_response for {instruction, input: "", output: ""}. */
export function corenetPrompt(instruction: string): string {
  return "Below is an instruction that describes a task. Write a response that appropriately completes the request.  \n\n" +
    `                ### Instruction:\n                ${instruction}\n                \n                ### Response:\n                `;
}

/** The options CoreNet's get_loglikelihood_inputs derives from the instruction's last line; [] when none. */
export function answerOptions(instruction: string): string[] {
  const end = instruction.split("\n").pop()!;
  if (/^.*Answer format: true\/false/.test(end)) return ["true", "false"];
  let options: string[] = [];
  for (const word of ["answer", "ending", "option", "solution"]) // the last matching word wins, as in the loop there
    if (new RegExp(`^.*Answer format: .*${word}(\\d)$`).test(end))
      options = Array.from({ length: Number(end[end.length - 1]) }, (_, i) => `${word}${i + 1}`);
  return options;
}

const CORENET_SHUFFLE_SEED = 83652;

function task(name: string, dir: string): MultipleChoiceTask<LlmAdaptersDoc> {
  const file = `${dir}/test.json`;
  return {
    name,
    version: "corenet-llmadapters",
    metrics: ["acc", "acc_norm"],
    fixedNumFewshot: 0,
    targetDelimiter: "",
    localFiles: [file],
    loadLocal(dataDir) {
      const path = join(dataDir, file);
      const rows = readJson(path, name);
      if (!Array.isArray(rows)) throw new DataError(`${path}: expected a JSON array of {instruction, input, output, answer}`);
      const docs = rows.map((r, i) => {
        const where = `${path}[${i}]`;
        if (typeof r !== "object" || r === null) throw new DataError(`${where}: expected an object {instruction, input, output, answer}`);
        const { instruction, answer } = r as Record<string, unknown>;
        if (typeof instruction !== "string") throw new DataError(`${where}: field "instruction" must be a string, got ${describe(instruction)}`);
        if (typeof answer !== "string") throw new DataError(`${where}: field "answer" must be a string, got ${describe(answer)}`);
        const options = answerOptions(instruction);
        if (options.length === 0) throw new DataError(`${where}: field "instruction" has no "Answer format: …" last line to take the options from`);
        return { instruction, answer, options };
      });
      new PythonRandom(CORENET_SHUFFLE_SEED).shuffle(docs);
      return { eval: { docs, source: path } };
    },
    docToText: (doc) => corenetPrompt(doc.instruction),
    docToChoice: (doc) => doc.options.map((o) => `the correct answer is ${o}`),
    docToTarget: (doc) => `the correct answer is ${doc.answer}`,
  };
}

/** The eight commonsense tasks of the OpenELM PEFT protocol, by our task name → LLM-Adapters directory. */
export const LLM_ADAPTERS_TASKS: Record<string, MultipleChoiceTask<LlmAdaptersDoc>> = Object.fromEntries(
  ([["boolq", "boolq"], ["piqa", "piqa"], ["siqa", "social_i_qa"], ["hellaswag", "hellaswag"], ["winogrande", "winogrande"],
    ["arc_easy", "ARC-Easy"], ["arc_challenge", "ARC-Challenge"], ["obqa", "openbookqa"]] as const)
    .map(([short, dir]) => [`llmadapters_${short}`, task(`llmadapters_${short}`, dir)]));

/** All eight (CoreNet reports each; the group's mean is pooled by size like lm-eval's groups). */
export function llmAdaptersGroup(): TaskGroup {
  return { name: "llmadapters_commonsense", members: Object.values(LLM_ADAPTERS_TASKS) };
}
