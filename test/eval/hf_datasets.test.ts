// Task data from the Hugging Face cache (parquet via hyparquet) and lm-eval's random few-shot sampler on a real
// training split: shots = random.Random(1234).sample(train, k + 1) per document, in document order.
import * as fs from "node:fs";
import { describe, expect, test } from "vitest";
import { prepareTask } from "../../src/eval/evaluate.js";
import { loadTaskData } from "../../src/eval/task_data.js";
import { winogrande } from "../../src/eval/tasks/winogrande.js";
import { FIXTURE_DIR, tokenizer } from "./fixture.js";

const env = { HF_HUB_CACHE: FIXTURE_DIR + "hf_cache" };
// The parquet files hold WinoGrande dev rows 0–2 (validation) and 100–129 (train; rows not in data/); see hf_cache/make_parquet.mjs.
const dev = fs.readFileSync(FIXTURE_DIR + "data/winogrande/dev.jsonl", "utf8").trim().split("\n").map((l) => JSON.parse(l));

/** A solved WinoGrande shot, written out independently of the task code. */
function shot(r: { sentence: string; option1: string; option2: string; answer: string }): string {
  const cut = r.sentence.indexOf("_");
  return r.sentence.slice(0, cut) + (r.answer === "1" ? r.option1 : r.option2) + " " + r.sentence.slice(cut + 1).trim();
}

describe("HF cache parquet", () => {
  test("winogrande_xl validation and train splits are read with the HF column names", async () => {
    const data = await loadTaskData(winogrande, { env });
    expect(data.eval.docs).toEqual(dev.slice(0, 3).map(({ sentence, option1, option2, answer }) => ({ sentence, option1, option2, answer })));
    expect(data.eval.source).toBe("hf://allenai/winogrande/winogrande_xl/validation");
    expect(data.fewshot?.docs.length).toBe(30);
    expect(data.fewshot?.sampler).toBe("default");
  });

  test("2-shot: lm-eval's Random(1234).sample(train, 3) per document, first 2 kept", async () => {
    const data = await loadTaskData(winogrande, { env });
    const p = prepareTask(winogrande, data, tokenizer, { numFewshot: 2 });
    // python3 -c "import random; r = random.Random(1234); print([r.sample(range(30), 3) for _ in range(3)])"
    const draws = [[24, 14, 3], [0, 2, 29], [25, 18, 1]];
    p.docs.forEach((d, i) => {
      const [a, b] = draws[i].map((j) => data.fewshot!.docs[j] as typeof dev[0]);
      const r = dev[i];
      const prefix = r.sentence.slice(0, r.sentence.indexOf("_"));
      expect(d.requests.map((q) => q.context)).toEqual([r.option1, r.option2].map((o) => `${shot(a)}\n\n${shot(b)}\n\n${prefix}${o}`));
      expect(d.requests[0].continuation).toBe(" " + r.sentence.slice(r.sentence.indexOf("_") + 1).trim());
    });
  });
});
