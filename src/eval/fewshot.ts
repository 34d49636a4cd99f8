// Few-shot example selection as lm-evaluation-harness's samplers.py (dc90fec):
//   "default": one random.Random(1234) per task, .sample(pool, n) once per evaluated document, in document order;
//   "first_n": the first n of the pool (MMLU's dev split).
// n = k + 1 when the task config has fewshot_split == test_split (then the evaluated document is dropped if drawn
// and the first k kept), else n = k.
// Local data has no training splits for most tasks; then the documented substitute of the reference fixture
// applies: documents start, start+1, … of the evaluated file, in order, skipping the evaluated document.

import { InputError } from "../errors.js";
import { PythonRandom } from "./python_random.js";
import type { DocSet, FewshotPool } from "./task.js";

/** lm-eval seeds every task's sampler with 1234. */
export const FEWSHOT_SEED = 1234;
/** The reference fixture's substitute pool starts at document 24 of the evaluated file. */
export const DEFAULT_SUBSTITUTE_START = 24;

export class FewshotSampler<D> {
  private readonly rnd = new PythonRandom(FEWSHOT_SEED);
  private readonly keys: string[];

  constructor(readonly taskName: string, readonly pool: FewshotPool<D>, readonly k: number) {
    const needed = k + (pool.drawExtra ? 1 : 0);
    if (needed > pool.docs.length) {
      const spare = pool.drawExtra ? ` (lm-eval draws ${needed}: one spare in case it draws the evaluated document)` : "";
      throw new InputError(`${taskName}: --num-fewshot ${k} is larger than the few-shot pool: ` +
        `${pool.source} has ${pool.docs.length} documents${spare}`);
    }
    this.keys = pool.docs.map((d) => JSON.stringify(d));
  }

  /** The k shots for `doc`; call once per evaluated document, in document order (the generator advances). */
  shots(doc: D): D[] {
    const self = JSON.stringify(doc); // lm-eval drops shots equal (==) to the evaluated document
    if (this.pool.sampler === "first_n") {
      // The first k pool documents other than `doc`: lm-eval's docs[:k(+1)] minus doc, whenever lm-eval has enough.
      const picked = this.pool.docs.filter((_, i) => this.keys[i] !== self).slice(0, this.k);
      if (picked.length < this.k)
        throw new InputError(`${this.taskName}: --num-fewshot ${this.k} is larger than the few-shot pool: ` +
          `${this.pool.source} has ${picked.length} documents besides the evaluated one`);
      return picked;
    }
    const n = this.k + (this.pool.drawExtra ? 1 : 0);
    const idx = Array.from({ length: this.pool.docs.length }, (_, i) => i);
    return this.rnd.sample(idx, n).filter((i) => this.keys[i] !== self).slice(0, this.k).map((i) => this.pool.docs[i]);
  }

  /** How shots are drawn, for logs and the results file. */
  describe(): string {
    return `${this.pool.sampler === "first_n" ? "first_n" : `random.Random(${FEWSHOT_SEED}).sample`} over ${this.pool.source}`;
  }
}

/** The substitute pool: the evaluated documents from `start` on, taken in order. */
export function substitutePool<D>(evalDocs: DocSet<D>, start: number): FewshotPool<D> {
  return {
    docs: evalDocs.docs.slice(start),
    source: `${evalDocs.source} from document ${start} (first-k substitute: no training split)`,
    sampler: "first_n",
    drawExtra: false,
  };
}
