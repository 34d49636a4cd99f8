// Task data from the Hugging Face hub cache: the dataset's parquet files (either its own data files or the
// hub's refs/convert/parquet export), read with hyparquet. Only what is already cached is used; nothing is
// downloaded here. Layout: <hub cache>/datasets--<owner>--<name>/snapshots/<sha>/<config>/<split>-*.parquet
// (or <config>/<split>/NNNN.parquet, data/<split>-*.parquet).

import { existsSync, readdirSync, statSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { asyncBufferFromFile, parquetReadObjects } from "hyparquet";
import { hubCacheDir, repoCacheDir } from "../io/hf_cache.js";
import type { Doc } from "./task.js";

/** Parquet files of one split of a cached dataset, in name order; [] when not cached. */
export function cachedSplitFiles(repo: string, config: string | undefined, split: string,
  env: Record<string, string | undefined> = process.env): string[] {
  const root = join(repoCacheDir(hubCacheDir(env), repo, "dataset"), "snapshots");
  if (!existsSync(root)) return [];
  for (const snap of readdirSync(root).sort()) {
    const dir = join(root, snap);
    const files = walk(dir).filter((f) => {
      const parts = relative(dir, f).split(sep);
      const base = parts[parts.length - 1];
      if (!base.endsWith(".parquet")) return false;
      if (config !== undefined && !parts.slice(0, -1).includes(config)) return false;
      return base.startsWith(`${split}-`) || base.startsWith(`${split}.`) || parts[parts.length - 2] === split;
    });
    if (files.length > 0) return files.sort();
  }
  return [];
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

/** All rows of the given parquet files, int64 columns as numbers. */
export async function readParquetRows(files: string[]): Promise<Doc[]> {
  const rows: Doc[] = [];
  for (const f of files) {
    const file = await asyncBufferFromFile(f);
    for (const r of await parquetReadObjects({ file })) rows.push(toPlain(r) as Doc);
  }
  return rows;
}

function toPlain(v: unknown): unknown {
  if (typeof v === "bigint") return Number(v);
  if (Array.isArray(v)) return v.map(toPlain);
  if (v !== null && typeof v === "object" && !(v instanceof Uint8Array))
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toPlain(x)]));
  return v;
}
