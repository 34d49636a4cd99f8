// The LLM-Adapters commonsense tasks scored as CoreNet's corenet-eval-llmadapters (multiple-choice mode) against
// test/fixtures/finetune/llm-adapters-commonsense/expected.json (a Python transcription of CoreNet's and lm-eval's
// code, SentencePiece, and the float64 numpy reference model): CoreNet's document order (random.seed(83652)
// shuffle), prompt strings, token ids, log-likelihoods within 1e-3, predictions and acc / acc_norm.
import { describe, expect, test } from "vitest";
import * as fs from "node:fs";
import { evaluate } from "../../src/eval/evaluate.js";
import { answerOptions } from "../../src/eval/tasks/llm_adapters.js";
import { loadModelDir } from "../../src/models/load.js";
import { createWasmBackend } from "../../src/kernels/wasm/index.js";
import { Tokenizer } from "../../src/tokenizer/sentencepiece.js";

const DIR = new URL("../fixtures/finetune/llm-adapters-commonsense", import.meta.url).pathname;
const expected = JSON.parse(fs.readFileSync(`${DIR}/expected.json`, "utf8"));
const NAMES: Record<string, string> = { boolq: "llmadapters_boolq", piqa: "llmadapters_piqa", social_i_qa: "llmadapters_siqa",
  winogrande: "llmadapters_winogrande", "ARC-Easy": "llmadapters_arc_easy", "ARC-Challenge": "llmadapters_arc_challenge", openbookqa: "llmadapters_obqa" };

describe("LLM-Adapters commonsense tasks (CoreNet's PEFT evaluation)", () => {
  test("options come from the instruction's last line", () => {
    expect(answerOptions("x\nAnswer format: true/false")).toEqual(["true", "false"]);
    expect(answerOptions("x\nOption1: a Option2: b Answer format: option1/option2")).toEqual(["option1", "option2"]);
    expect(answerOptions("x\nAnswer format: ending1/ending2/ending3/ending4")).toEqual(["ending1", "ending2", "ending3", "ending4"]);
    expect(answerOptions("x\nAnswer format: pick one")).toEqual([]);
  });

  test("prompts, token ids, log-likelihoods and accuracies match the reference", async () => {
    const model = loadModelDir(new URL("../../assets/models/default", import.meta.url).pathname, { backend: await createWasmBackend({ threads: 2 }) }).model;
    const tok = await Tokenizer.fromModelFile();
    const r = await evaluate(model, tok, Object.values(NAMES), { dataDir: DIR, maxLength: 2048 });
    for (const [dir, name] of Object.entries(NAMES)) {
      const want = expected.tasks[dir], got = r.tasks.find((t) => t.name === name)!;
      expect(got.docs.length).toBe(want.docs.length);
      got.docs.forEach((d, i) => {
        const e = want.docs[i];
        expect((d.doc as { instruction: string }).instruction).toBe(e.instruction); // CoreNet's shuffled order
        expect(d.choices).toEqual(e.continuations);
        d.requests.forEach((q, j) => {
          expect(q.context).toBe(e.context);
          expect(q.contextIds).toEqual(e.ids[j].context);
          expect(q.continuationIds).toEqual(e.ids[j].continuation);
          expect(Math.abs(d.results[j].loglikelihood - e.loglikelihoods[j]), `${name} doc ${i} choice ${j}`).toBeLessThan(1e-3);
        });
        expect(d.choices[d.pred!].split(" ").pop()).toBe(e.output_pred);
        expect(d.choices[d.predNorm!].split(" ").pop()).toBe(e.output_norm_pred);
      });
      expect(got.metrics.acc).toBe(want.acc);
      expect(got.metrics.acc_norm).toBe(want.acc_norm);
    }
    model.backend.dispose?.();
  }, 60_000);
});
