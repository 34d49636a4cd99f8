// Bad input gives one clear error naming the file, line, task or argument (messages pinned).
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, test } from "vitest";
import { prepareTask } from "../../src/eval/evaluate.js";
import { loadTaskData } from "../../src/eval/task_data.js";
import { resolveTask } from "../../src/eval/tasks/index.js";
import type { MultipleChoiceTask } from "../../src/eval/task.js";
import { DATA_DIR, tokenizer } from "./fixture.js";

const task = (name: string) => resolveTask(name) as MultipleChoiceTask<any>;

/** A data dir holding one file with the given text. */
function dirWith(rel: string, text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "openelm-eval-"));
  fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
  fs.writeFileSync(path.join(dir, rel), text);
  return dir;
}

describe("bad input", () => {
  test("missing data file", () => {
    expect(() => task("boolq").loadLocal("/nonexistent")).toThrow("boolq: data file not found: /nonexistent/boolq/dev.jsonl");
  });

  test("no --data-dir and nothing in the HF cache", async () => {
    await expect(loadTaskData(task("piqa"), { env: { HF_HUB_CACHE: "/nonexistent-cache" } })).rejects.toThrow(
      "piqa: no task data in the HF cache (/nonexistent-cache); fetch it with: openelm download ybisk/piqa --repo-type dataset " +
      '--revision refs/convert/parquet --include "plain_text/**" (or pass --data-dir DIR holding piqa/valid.jsonl, piqa/valid-labels.lst)');
  });

  test("malformed JSON row, named with its line number", () => {
    const good = fs.readFileSync(path.join(DATA_DIR, "arc_easy/arc_easy_test.llmfoundry.jsonl"), "utf8").split("\n");
    const dir = dirWith("arc_easy/arc_easy_test.llmfoundry.jsonl", [good[0], good[1], '{"query": "Question: x", "choices": ["a"', good[3]].join("\n"));
    expect(() => task("arc_easy").loadLocal(dir)).toThrow(
      new RegExp(`^${dir}/arc_easy/arc_easy_test\\.llmfoundry\\.jsonl:3: malformed JSON line \\(`));
  });

  test("row with a bad field, named with its line number", () => {
    const dir = dirWith("winogrande/dev.jsonl", '{"sentence": "A _ b.", "option1": "x", "option2": "y", "answer": "1"}\n' +
      '{"sentence": "A _ b.", "option1": "x", "option2": "y", "answer": "3"}\n');
    expect(() => task("winogrande").loadLocal(dir)).toThrow(`${dir}/winogrande/dev.jsonl:2: field "answer" must be "1" or "2", got "3"`);
  });

  test("malformed MMLU CSV row and HellaSwag gold line", () => {
    const dir = dirWith("mmlu/test/anatomy_test.csv", "What?,a,b,c,d,A\n\"Which, one?\",a,b,c,E\n");
    fs.mkdirSync(path.join(dir, "mmlu/dev"), { recursive: true });
    fs.writeFileSync(path.join(dir, "mmlu/dev/anatomy_dev.csv"), "q,a,b,c,d,B\n");
    expect(() => task("mmlu_anatomy").loadLocal(dir)).toThrow(
      `${dir}/mmlu/test/anatomy_test.csv:2: expected 6 columns (question, A, B, C, D, answer), got 5`);
    const h = dirWith("hellaswag/hellaswag_val_full.txt", "Label: ctx. he\nx\na\nb\nc\nd\n");
    expect(() => task("hellaswag").loadLocal(h)).toThrow(`${h}/hellaswag/hellaswag_val_full.txt:2: expected the gold ending index 0 … 3, got "x"`);
  });

  test("unknown task lists the known ones", () => {
    expect(() => resolveTask("hellaswagg")).toThrow('unknown task "hellaswagg"; known tasks: arc_challenge, arc_easy, boolq, hellaswag, ' +
      "llmadapters_<task> (boolq, piqa, siqa, hellaswag, winogrande, arc_easy, arc_challenge, obqa), llmadapters_commonsense, mmlu, mmlu_<subject> (57 subjects, e.g. mmlu_abstract_algebra), mmlu_humanities, mmlu_other, mmlu_social_sciences, mmlu_stem, " +
      "piqa, sciq, truthfulqa_mc2, winogrande");
  });

  test("--num-fewshot larger than the pool", () => {
    const t = task("mmlu_abstract_algebra");
    expect(() => prepareTask(t, t.loadLocal(DATA_DIR), tokenizer, { numFewshot: 6, limit: 1 })).toThrow(
      `mmlu_abstract_algebra: --num-fewshot 6 is larger than the few-shot pool: ${DATA_DIR}/mmlu/dev/abstract_algebra_dev.csv has 5 documents`);
    const b = task("boolq"); // 8 documents, substitute pool from document 24: empty
    expect(() => prepareTask(b, b.loadLocal(DATA_DIR), tokenizer, { numFewshot: 1, limit: 1 })).toThrow(
      `boolq: --num-fewshot 1 is larger than the few-shot pool: ${DATA_DIR}/boolq/dev.jsonl from document 24 (first-k substitute: no training split) has 0 documents`);
  });

  test("TruthfulQA ignores --num-fewshot (its YAML pins 0)", () => {
    const t = task("truthfulqa_mc2");
    expect(prepareTask(t, t.loadLocal(DATA_DIR), tokenizer, { numFewshot: 5, limit: 1 }).numFewshot).toBe(0);
  });
});
