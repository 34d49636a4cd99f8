// The evaluation loop of lm-evaluation-harness (evaluator.py at dc90fec) for multiple-choice tasks: per task,
// build every document's requests (few-shot context, choices, token ids), score them with one shared-prefix
// log-likelihood scorer, turn log-likelihoods into per-document metrics, then aggregate tasks and groups.

import { InputError, type DataError } from "../errors.js";
import { DEFAULT_SUBSTITUTE_START, FewshotSampler, substitutePool } from "./fewshot.js";
import { LoglikScorer, type LoglikResult, type LogitsModel, type ScorerStats } from "./loglik.js";
import { aggregateSubtaskMetrics, mean, meanStderr, multipleChoiceMetrics, pooledSampleStderr } from "./metrics.js";
import { buildDocStrings, encodePair, type DocRequests, type EvalTokenizer } from "./requests.js";
import { loadTaskData, missingTaskData, type DataSourceOptions } from "./task_data.js";
import { isGroup, type MetricName, type MultipleChoiceTask, type TaskData, type TaskGroup } from "./task.js";
import { resolveTask } from "./tasks/index.js";

export interface EvalOptions extends DataSourceOptions {
  /** Shots per document (--num-fewshot); a task's fixed YAML value wins (TruthfulQA: 0). Default 0. */
  numFewshot?: number;
  /** Only the first `limit` documents of each task (--limit). */
  limit?: number;
  /** Only these document indices of each task (--docs), instead of limit. */
  docIndices?: number[];
  /** lm-eval's max_length: 2048 for the published OpenELM models (HFLM default), the context size otherwise. */
  maxLength: number;
  /** First document of the substitute few-shot pool when a task has no training split (default 24). */
  fewshotStart?: number;
  /** Reuse the KV cache of a shared prefix across requests (default true; false for measuring the saving). */
  reusePrefix?: boolean;
  onProgress?: (p: Progress) => void;
}

export interface Progress {
  done: number;
  total: number;
  stats: ScorerStats;
}

/** Everything about one scored document, in the shape of lm-eval's logged samples plus our token details. */
export interface ScoredDoc<D = unknown> extends DocRequests<D> {
  results: LoglikResult[];
  metrics: Partial<Record<MetricName, number>>;
  pred?: number;
  predNorm?: number;
}

export interface TaskResult {
  name: string;
  version: string;
  numFewshot: number;
  fewshot?: string;
  source: string;
  samples: number;
  metrics: Partial<Record<MetricName, number>>;
  stderr: Partial<Record<MetricName, number | null>>;
  docs: ScoredDoc[];
}

export interface GroupResult {
  name: string;
  members: string[];
  samples: number;
  metrics: Partial<Record<MetricName, number>>;
  stderr: Partial<Record<MetricName, number | null>>;
}

export interface EvalResults {
  tasks: TaskResult[];
  groups: GroupResult[];
  stats: ScorerStats;
  seconds: number;
}

/** A task's evaluated documents with their requests built and tokenised (no model needed). */
export interface PreparedTask<D = unknown> {
  task: MultipleChoiceTask<D>;
  numFewshot: number;
  fewshot?: string;
  source: string;
  docs: DocRequests<D>[];
}

/** Requests for the given documents of a task, shots drawn in document order as lm-eval does. */
export function prepareTask<D>(task: MultipleChoiceTask<D>, data: TaskData<D>, tok: EvalTokenizer,
  opts: { numFewshot?: number; limit?: number; docIndices?: number[]; fewshotStart?: number }): PreparedTask<D> {
  const k = task.fixedNumFewshot ?? opts.numFewshot ?? 0;
  if (!Number.isInteger(k) || k < 0) throw new InputError(`--num-fewshot must be a non-negative integer, got ${k}`);
  let sampler: FewshotSampler<D> | undefined;
  if (k > 0) {
    const pool = data.fewshot ?? substitutePool(data.eval, opts.fewshotStart ?? DEFAULT_SUBSTITUTE_START);
    sampler = new FewshotSampler(task.name, pool, k);
  }
  const all = data.eval.docs;
  const indices = opts.docIndices ?? Array.from({ length: Math.min(all.length, opts.limit ?? all.length) }, (_, i) => i);
  const docs = indices.map((docIndex) => {
    if (docIndex < 0 || docIndex >= all.length) throw new InputError(`${task.name}: document ${docIndex} is out of range (0 … ${all.length - 1})`);
    const doc = all[docIndex];
    const shots = sampler ? sampler.shots(doc) : [];
    const { pairs, gold, choices } = buildDocStrings(task, doc, shots);
    return { docIndex, doc, gold, choices, requests: pairs.map(([c, x]) => encodePair(tok, c, x)) };
  });
  return { task, numFewshot: k, fewshot: sampler?.describe(), source: data.eval.source, docs };
}

/** Per-document metrics from the choices' log-likelihoods (process_results). */
export function docMetrics<D>(task: MultipleChoiceTask<D>, d: DocRequests<D>, results: LoglikResult[]):
  Pick<ScoredDoc<D>, "metrics" | "pred" | "predNorm"> {
  const lls = results.map((r) => r.loglikelihood);
  if (task.processResults) return { metrics: task.processResults(d.doc, lls) };
  const m = multipleChoiceMetrics(lls, d.choices, d.gold);
  const metrics: Partial<Record<MetricName, number>> = {};
  if (task.metrics.includes("acc")) metrics.acc = m.acc;
  if (task.metrics.includes("acc_norm")) metrics.acc_norm = m.accNorm;
  return { metrics, pred: m.pred, predNorm: task.metrics.includes("acc_norm") ? m.predNorm : undefined };
}

/** Mean and stderr of each metric over a task's documents. */
export function aggregateTask(task: MultipleChoiceTask<any>, docs: ScoredDoc[]):
  Pick<TaskResult, "metrics" | "stderr" | "samples"> {
  const metrics: TaskResult["metrics"] = {};
  const stderr: TaskResult["stderr"] = {};
  for (const m of task.metrics) {
    const xs = docs.map((d) => d.metrics[m] as number);
    metrics[m] = mean(xs);
    stderr[m] = meanStderr(xs);
  }
  return { metrics, stderr, samples: docs.length };
}

type Entry = { name: string; samples: number; metrics: TaskResult["metrics"]; stderr: TaskResult["stderr"] };

/** Groups bottom-up (reversed task hierarchy), each pooled over its direct members as lm-eval does. */
function aggregateGroup(group: TaskGroup, byName: Map<string, Entry>, out: GroupResult[]): Entry {
  const members = group.members.map((m) => (isGroup(m) ? aggregateGroup(m, byName, out) : byName.get(m.name)!));
  const names = new Set<MetricName>(members.flatMap((m) => Object.keys(m.metrics) as MetricName[]));
  const res: GroupResult = { name: group.name, members: members.map((m) => m.name), samples: 0, metrics: {}, stderr: {} };
  for (const metric of names) {
    const having = members.filter((m) => m.metrics[metric] !== undefined);
    const sizes = having.map((m) => m.samples);
    res.metrics[metric] = aggregateSubtaskMetrics(having.map((m) => m.metrics[metric]!), sizes);
    const errs = having.map((m) => m.stderr[metric]);
    res.stderr[metric] = errs.some((e) => e === null || e === undefined) ? null : pooledSampleStderr(errs as number[], sizes);
    res.samples = sizes.reduce((a, b) => a + b, 0);
  }
  out.push(res);
  return res;
}

/** Leaf tasks of a task-or-group, in order. */
function leaves(x: MultipleChoiceTask<any> | TaskGroup): MultipleChoiceTask<any>[] {
  return isGroup(x) ? x.members.flatMap(leaves) : [x];
}

/**
 * Without a data directory: a DataError naming every task of `taskNames` whose data is not in the HF cache
 * and the commands that fetch it, or null. Throws InputError for an unknown task name.
 */
export function missingData(taskNames: string[], opts: DataSourceOptions): DataError | null {
  return opts.dataDir === undefined ? missingTaskData(taskNames.map(resolveTask).flatMap(leaves), opts.env) : null;
}

/** Run `taskNames` (tasks or groups) on a model: lm-eval's simple_evaluate for multiple-choice tasks. */
export async function evaluate(model: LogitsModel, tok: EvalTokenizer, taskNames: string[], opts: EvalOptions): Promise<EvalResults> {
  const t0 = performance.now();
  const resolved = taskNames.map(resolveTask);
  const prepared: PreparedTask<any>[] = [];
  const seen = new Set<string>();
  const missing = missingData(taskNames, opts); // everything missing at once, before any work
  if (missing) throw missing;
  for (const task of resolved.flatMap(leaves)) {
    if (seen.has(task.name)) continue;
    seen.add(task.name);
    const data = await loadTaskData(task, opts);
    prepared.push(prepareTask(task, data, tok, opts));
  }
  const total = prepared.reduce((n, p) => n + p.docs.reduce((m, d) => m + d.requests.length, 0), 0);
  const scorer = new LoglikScorer(model, opts.maxLength, opts.reusePrefix ?? true);
  const tasks: TaskResult[] = [];
  let done = 0;
  for (const p of prepared) {
    const docs: ScoredDoc[] = [];
    for (const d of p.docs) {
      const results = d.requests.map((r) => scorer.score(r.contextIds, r.continuationIds));
      done += results.length;
      opts.onProgress?.({ done, total, stats: scorer.stats });
      docs.push({ ...d, results, ...docMetrics(p.task, d, results) });
      await new Promise((r) => setImmediate(r)); // let the progress bar draw
    }
    tasks.push({ name: p.task.name, version: p.task.version, numFewshot: p.numFewshot, fewshot: p.fewshot, source: p.source, docs, ...aggregateTask(p.task, docs) });
  }
  const groups: GroupResult[] = [];
  const byName = new Map<string, Entry>(tasks.map((t) => [t.name, t]));
  for (const g of resolved) if (isGroup(g)) aggregateGroup(g, byName, groups);
  return { tasks, groups, stats: { ...scorer.stats }, seconds: (performance.now() - t0) / 1000 };
}
