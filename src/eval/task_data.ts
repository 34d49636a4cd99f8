// Where a task's documents come from: the original local files under --data-dir, or (without --data-dir) the
// dataset's parquet files already in the Hugging Face cache, with its training split for lm-eval's sampler.

import { DataError } from "../errors.js";
import { hubCacheDir } from "../io/hf_cache.js";
import { cachedSplitFiles, readParquetRows } from "./hf_datasets.js";
import type { Doc, MultipleChoiceTask, TaskData } from "./task.js";

export interface DataSourceOptions {
  /** Directory holding the original files (arc_easy/…, boolq/dev.jsonl, mmlu/test/…). */
  dataDir?: string;
  env?: Record<string, string | undefined>;
}

export async function loadTaskData<D>(task: MultipleChoiceTask<D>, opts: DataSourceOptions): Promise<TaskData<D>> {
  if (opts.dataDir !== undefined) return task.loadLocal(opts.dataDir);
  const env = opts.env ?? process.env;
  const hub = task.hub;
  const evalFiles = hub ? cachedSplitFiles(hub.repo, hub.config, hub.evalSplit, env) : [];
  if (!hub || evalFiles.length === 0) {
    const where = hub ? ` or the parquet files of ${hub.repo}${hub.config ? ` (${hub.config})` : ""} in ${hubCacheDir(env)}` : "";
    throw new DataError(`${task.name}: no data: pass --data-dir DIR holding ${task.localFiles.join(", ")}${where}`);
  }
  const fromRow = hub.fromRow ?? ((r: Doc) => r as D);
  const src = (split: string) => `hf://${hub.repo}${hub.config ? `/${hub.config}` : ""}/${split}`;
  const data: TaskData<D> = { eval: { docs: (await readParquetRows(evalFiles)).map(fromRow), source: src(hub.evalSplit) } };
  if (hub.fewshotSplit) {
    const files = cachedSplitFiles(hub.repo, hub.config, hub.fewshotSplit, env);
    if (files.length > 0)
      data.fewshot = { docs: (await readParquetRows(files)).map(fromRow), source: src(hub.fewshotSplit),
        sampler: hub.sampler ?? "default", drawExtra: hub.drawExtra ?? false };
  }
  return data;
}
