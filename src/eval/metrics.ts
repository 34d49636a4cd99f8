// Metrics exactly as lm-evaluation-harness (dc90fec) computes them: api/task.py process_results for
// multiple_choice (acc = argmax ll == gold; acc_norm = argmax ll / len(choice) with len in code points, first
// maximum wins as np.argmax), api/metrics.py mean / mean_stderr (sample stdev n-1 over sqrt n), and the group
// pooling of evaluator.py (aggregate_subtask_metrics weighted by size, pooled_sample_stderr).

import { pythonLen } from "./python_str.js";

/** np.argmax: index of the first maximum. */
export function argmax(xs: number[]): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i] > xs[best]) best = i;
  return best;
}

export interface ChoiceMetrics {
  pred: number;
  predNorm: number;
  acc: number;
  accNorm: number;
  /** Code-point length of each choice (without the delimiter space). */
  choiceChars: number[];
}

export function multipleChoiceMetrics(lls: number[], choices: string[], gold: number): ChoiceMetrics {
  const choiceChars = choices.map(pythonLen);
  const pred = argmax(lls);
  const predNorm = argmax(lls.map((ll, i) => ll / choiceChars[i]));
  return { pred, predNorm, acc: pred === gold ? 1 : 0, accNorm: predNorm === gold ? 1 : 0, choiceChars };
}

/** lm-eval `mean`: sum in order, then divide. */
export function mean(xs: number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/** lm-eval `mean_stderr`; null ("N/A") for fewer than two items, where lm-eval reports none. */
export function meanStderr(xs: number[]): number | null {
  if (xs.length < 2) return null;
  const mu = mean(xs);
  let s = 0;
  for (const x of xs) s += (x - mu) ** 2;
  return Math.sqrt(s / (xs.length - 1)) / Math.sqrt(xs.length);
}

/** lm-eval `aggregate_subtask_metrics` (weighted by size). */
export function aggregateSubtaskMetrics(values: number[], sizes: number[]): number {
  let s = 0, n = 0;
  for (let i = 0; i < values.length; i++) { s += values[i] * sizes[i]; n += sizes[i]; }
  return s / n;
}

/** lm-eval `pooled_sample_stderr`: pooled variance of the subtasks, over the total size. */
export function pooledSampleStderr(stderrs: number[], sizes: number[]): number {
  let num = 0, total = 0;
  for (let i = 0; i < sizes.length; i++) { num += (sizes[i] - 1) * stderrs[i] ** 2 * sizes[i]; total += sizes[i]; }
  return Math.sqrt(num / (total - sizes.length) / total);
}
