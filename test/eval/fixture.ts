// Shared loading for the evaluation tests: the lm-eval reference file, the data subsets, the tokenizer, and a
// backend (the WASM kernels when built, else the reference loops, on which the model tests run a subset).
import * as fs from "node:fs";
import type { Backend } from "../../src/kernels/backend.js";
import { createRefBackend } from "../../src/kernels/ref/index.js";
import { loadModel } from "../../src/models/load.js";
import { loadTokenizer } from "../../src/tokenizer/sentencepiece.js";
import { prepareTask, type PreparedTask } from "../../src/eval/evaluate.js";
import { resolveTask } from "../../src/eval/tasks/index.js";
import type { MultipleChoiceTask } from "../../src/eval/task.js";

export const FIXTURE_DIR = new URL("../fixtures/eval/", import.meta.url).pathname;
export const DATA_DIR = FIXTURE_DIR + "data";
export const MODEL_DIR = new URL("../fixtures/openelm/tiny-32k", import.meta.url).pathname;

export const expected = JSON.parse(fs.readFileSync(FIXTURE_DIR + "expected-tiny-32k.json", "utf8"));
export const MAX_LENGTH: number = expected.settings.max_length;

export interface Variant {
  task: string;
  variant: string;
  num_fewshot: number;
  metrics: string[];
  fewshot?: { indices: number[] };
  aggregate: Record<string, number>;
  docs: any[];
}
export const variants: Variant[] = expected.variants;

export const tokenizer = await loadTokenizer();

/** The variant's documents prepared by our harness (shots: the fixture's recorded substitute pool). */
export function prepareVariant(v: Variant): PreparedTask<any> {
  const task = resolveTask(v.task) as MultipleChoiceTask<any>;
  return prepareTask(task, task.loadLocal(DATA_DIR), tokenizer, {
    numFewshot: v.num_fewshot, docIndices: v.docs.map((d) => d.doc_index), fewshotStart: v.fewshot?.indices[0],
  });
}

/** The WASM backend when it loads (unless OPENELM_BACKEND=ref), else the reference backend. */
export async function testBackend(): Promise<Backend> {
  if (process.env.OPENELM_BACKEND === "ref") return createRefBackend();
  try {
    const spec = "../../src/kernels/wasm/index.js";
    const wasm = await import(/* @vite-ignore */ spec);
    return await wasm.createWasmBackend({ threads: 1 });
  } catch {
    return createRefBackend();
  }
}

export async function testModel() {
  return loadModel(MODEL_DIR, { backend: await testBackend() });
}
