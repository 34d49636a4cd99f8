// The Hugging Face hub cache layout, read and written exactly as Python's huggingface_hub does
// (huggingface_hub/file_download.py, constants.py; also @huggingface/hub cache-management.ts):
//   <cache>/models--<owner>--<name>/refs/<revision>          text file holding a commit sha
//   (dataset repositories: datasets--<owner>--<name>/…, the same inside)
//   <cache>/models--<owner>--<name>/blobs/<etag>             file contents, named by ETag
//   <cache>/models--<owner>--<name>/blobs/<etag>.incomplete  a download in progress (resumable)
//   <cache>/models--<owner>--<name>/snapshots/<sha>/<file>   relative symlink to ../../blobs/<etag>
// So a model a Python user already downloaded is found here, and what we download Python finds.

import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { mkdir, rename, symlink, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join, relative } from "node:path";

/** A 40-hex git commit sha: a revision that needs no refs/ lookup. */
export const COMMIT_SHA = /^[0-9a-f]{40}$/;

/**
 * The hub cache directory: $HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub,
 * else ~/.cache/huggingface/hub (huggingface_hub constants.py; HUGGINGFACE_HUB_CACHE is its old name).
 */
export function hubCacheDir(env: Record<string, string | undefined>): string {
  const explicit = env.HF_HUB_CACHE || env.HUGGINGFACE_HUB_CACHE;
  if (explicit) return explicit;
  const home = env.HF_HOME || join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "huggingface");
  return join(home, "hub");
}

/** What a hub repository holds: a model (the default) or a dataset. */
export type RepoType = "model" | "dataset";

/** `<cache>/models--owner--name` for model "owner/name"; `datasets--owner--name` for a dataset. */
export function repoCacheDir(cacheDir: string, repo: string, type: RepoType = "model"): string {
  return join(cacheDir, `${type}s--` + repo.split("/").join("--"));
}

/** The commit sha a revision points at in the cache, or undefined (revision never resolved here). */
export function readRef(repoDir: string, revision: string): string | undefined {
  if (COMMIT_SHA.test(revision)) return revision;
  const ref = join(repoDir, "refs", revision);
  if (!existsSync(ref)) return undefined;
  const sha = readFileSync(ref, "utf8").trim();
  return COMMIT_SHA.test(sha) ? sha : undefined;
}

/** Record that `revision` resolved to `sha` (temp + rename, so a reader never sees half a sha). */
export async function writeRef(repoDir: string, revision: string, sha: string): Promise<void> {
  if (revision === sha) return;
  const ref = join(repoDir, "refs", revision);
  await mkdir(dirname(ref), { recursive: true });
  const tmp = `${ref}.${uniqueSuffix()}.tmp`;
  await writeFile(tmp, sha);
  await rename(tmp, ref);
}

/** Temp names unique per process and call, so concurrent writers never share one. */
function uniqueSuffix(): string {
  return `${process.pid}-${randomBytes(4).toString("hex")}`;
}

export function snapshotDir(repoDir: string, sha: string): string {
  return join(repoDir, "snapshots", sha);
}

export function blobPath(repoDir: string, etag: string): string {
  return join(repoDir, "blobs", etag);
}

/** True when a snapshot entry exists and, if it is a symlink, its blob exists too. */
export function hasSnapshotFile(snapshot: string, file: string): boolean {
  try {
    return statSync(join(snapshot, file)).isFile(); // stat follows the link: a dangling link is absent
  } catch {
    return false;
  }
}

/**
 * Point snapshots/<sha>/<file> at blobs/<etag> with a relative symlink, as huggingface_hub does;
 * made under a temp name and renamed so the entry appears whole or not at all.
 */
export async function linkSnapshotFile(repoDir: string, sha: string, file: string, etag: string): Promise<string> {
  const target = join(snapshotDir(repoDir, sha), file);
  await mkdir(dirname(target), { recursive: true });
  const tmp = `${target}.${uniqueSuffix()}.link`;
  await symlink(relative(dirname(target), blobPath(repoDir, etag)), tmp);
  await rename(tmp, target);
  return target;
}

/**
 * The files a model directory still lacks to be loaded: config.json and the weights
 * (model.safetensors, or model.safetensors.index.json plus every shard it names). [] = complete.
 */
export function missingModelFiles(dir: string): string[] {
  const missing: string[] = [];
  if (!hasSnapshotFile(dir, "config.json")) missing.push("config.json");
  if (hasSnapshotFile(dir, "model.safetensors")) return missing;
  if (!hasSnapshotFile(dir, "model.safetensors.index.json")) {
    missing.push("model.safetensors (or model.safetensors.index.json)");
    return missing;
  }
  let shards: string[] = [];
  try {
    const index = JSON.parse(readFileSync(join(dir, "model.safetensors.index.json"), "utf8"));
    shards = [...new Set(Object.values(index.weight_map ?? {}) as string[])];
  } catch {
    missing.push("model.safetensors.index.json (unreadable)");
  }
  for (const s of shards) if (!hasSnapshotFile(dir, s)) missing.push(s);
  return missing;
}
