// Where a task's documents come from: the original local files under --data-dir, or (without --data-dir) the
// dataset's parquet files already in the Hugging Face cache, with its training split for lm-eval's sampler.

import { DataError } from "../errors.js";
import { hubCacheDir } from "../io/hf_cache.js";
import { downloadCommand } from "../io/hub.js";
import { cachedSplitFiles, readParquetRows } from "./hf_datasets.js";
import type { Doc, HubDataset, MultipleChoiceTask, TaskData } from "./task.js";

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
  if (!hub || evalFiles.length === 0) throw missingTaskData([task], env)!;
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

/** Where a task's parquet files are on the hub: its own layout, or the hub's parquet export. */
export function hubFiles(hub: HubDataset<any>): { revision?: string; include: string[] } {
  return hub.files ?? { revision: "refs/convert/parquet", include: [`${hub.config ?? "default"}/**`] };
}

/**
 * Without --data-dir: one DataError for every task whose evaluation split is not in the HF cache, with the
 * `openelm download` commands that fetch it (one per dataset and revision); null when all are there.
 */
export function missingTaskData(tasks: MultipleChoiceTask<any>[], env: Record<string, string | undefined> = process.env): DataError | null {
  const missing = tasks.filter((t) => !t.hub || cachedSplitFiles(t.hub.repo, t.hub.config, t.hub.evalSplit, env).length === 0);
  if (missing.length === 0) return null;
  const fetches = new Map<string, { repo: string; revision?: string; include: string[] }>();
  for (const t of missing) {
    if (!t.hub) continue;
    const f = hubFiles(t.hub);
    const key = `${t.hub.repo}@${f.revision ?? "main"}`;
    const e = fetches.get(key) ?? { repo: t.hub.repo, revision: f.revision, include: [] };
    for (const g of f.include) if (!e.include.includes(g)) e.include.push(g);
    fetches.set(key, e);
  }
  // Many subsets of one dataset (the MMLU group): fetch the revision whole rather than name 57 globs.
  const commands = [...fetches.values()].map((e) =>
    downloadCommand(e.repo, { repoType: "dataset", revision: e.revision, include: e.include.length > 8 ? [] : e.include }));
  const names = missing.map((t) => t.name);
  const shown = names.length > 6 ? `${names.slice(0, 6).join(", ")} and ${names.length - 6} more` : names.join(", ");
  const local = [...new Set(missing.flatMap((t) => t.localFiles))];
  const localShown = local.length > 4 ? `${local.slice(0, 4).join(", ")}, …` : local.join(", ");
  return new DataError(`${shown}: no task data in the HF cache (${hubCacheDir(env)})` +
    (commands.length ? `; fetch it with: ${commands.join(" && ")}` : "") + ` (or pass --data-dir DIR holding ${localShown})`);
}
