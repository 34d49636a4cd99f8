// Hugging Face hub downloads into the shared HF cache (layout in hf_cache.ts), speaking the hub's
// HTTP protocol as huggingface_hub/file_download.py does:
//   GET  {endpoint}/api/models/{repo}/revision/{rev}  -> {sha, siblings: [{rfilename}]}
//   HEAD {endpoint}/{repo}/resolve/{sha}/{file}       -> ETag (git sha1) or, for LFS files, a 302 to
//        the CDN with X-Linked-Etag (the sha256 of the content) and X-Linked-Size
//   GET  <that url> with Range: bytes=N-               -> resume of blobs/<etag>.incomplete
// Dataset repositories are the same under /api/datasets/{repo} and /datasets/{repo}/resolve/.
// @huggingface/hub (2.17) has the cache path and a downloadFileToCacheDir, but that one neither
// resumes, verifies checksums, reports progress, writes refs/, nor knows offline mode; so the
// protocol is spoken here directly (it is small) and the cache stays byte-compatible with Python's.

import { createHash, type Hash } from "node:crypto";
import { createReadStream, existsSync, readFileSync, statSync } from "node:fs";
import { mkdir, open, rename, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { OpenELMError } from "../errors.js";
import { processAlive } from "./atomic_write.js";
import {
  blobPath, COMMIT_SHA, hasSnapshotFile, hubCacheDir, linkSnapshotFile, missingModelFiles,
  readRef, repoCacheDir, snapshotDir, writeRef, type RepoType,
} from "./hf_cache.js";

export type { RepoType } from "./hf_cache.js";

/** Network, authorisation, offline and checksum failures talking to the hub. */
export class HubError extends OpenELMError { override name = "HubError"; }

export interface HubSettings {
  /** Base URL of the hub (HF_ENDPOINT); default https://huggingface.co. */
  endpoint: string;
  /** Access token sent as `Authorization: Bearer` to the endpoint (HF_TOKEN). */
  token?: string;
  /** The hub cache directory (HF_HUB_CACHE, HF_HOME/hub, ~/.cache/huggingface/hub). */
  cacheDir: string;
  /** HF_HUB_OFFLINE=1: never touch the network, use only the cache. */
  offline: boolean;
}

/** The settings huggingface_hub would use with this environment. */
export function hubSettingsFromEnv(env: Record<string, string | undefined> = process.env): HubSettings {
  const truthy = (v: string | undefined) => v !== undefined && ["1", "true", "yes", "on"].includes(v.toLowerCase());
  return {
    endpoint: (env.HF_ENDPOINT || "https://huggingface.co").replace(/\/+$/, ""),
    token: env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN || undefined,
    cacheDir: hubCacheDir(env),
    offline: truthy(env.HF_HUB_OFFLINE) || truthy(env.TRANSFORMERS_OFFLINE),
  };
}

/** What a model needs (weights, configs, tokenizer files); README, *.py, images are skipped. */
export const MODEL_FILE_PATTERNS = ["*.json", "*.safetensors", "tokenizer.model"];

export interface ProgressEvent {
  phase: "start" | "data" | "done";
  file: string;
  /** Bytes of this file on disk so far (resumed bytes included). */
  bytes: number;
  /** Size of the file in bytes. */
  total: number;
  /** Bytes that were already on disk from an earlier, interrupted run. */
  resumedFrom: number;
}

export interface DownloadOptions {
  /** Branch, tag or commit sha; default "main". */
  revision?: string;
  /** A model repository (default) or a dataset repository. */
  repoType?: RepoType;
  /** Glob patterns (`*` within a path segment, `**` across) of files to fetch; default MODEL_FILE_PATTERNS for
   * a model, every file for a dataset. */
  include?: string[];
  onProgress?: (e: ProgressEvent) => void;
  signal?: AbortSignal;
  /** How many times a broken connection is resumed within one call (default 3). */
  retries?: number;
}

export interface Snapshot {
  repo: string;
  sha: string;
  /** snapshots/<sha>: a directory of symlinks that loads like a local model directory. */
  dir: string;
  /** Files this call transferred (cached ones excluded). */
  downloaded: string[];
}

const REPO_ID = /^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*$/;
const CANONICAL_ID = /^[A-Za-z0-9][\w.-]*$/;

/**
 * True for "owner/name" hub ids (as opposed to paths); for datasets also the owner-less ids of the hub's
 * first datasets ("super_glue"), which it still answers to.
 */
export function isRepoId(s: string, type: RepoType = "model"): boolean {
  return (REPO_ID.test(s) || (type === "dataset" && CANONICAL_ID.test(s))) && !s.includes("..");
}

function checkRepoId(repo: string, type: RepoType): void {
  if (!isRepoId(repo, type)) throw new HubError(`repository id "${repo}": expected "owner/name" (e.g. ${type === "dataset" ? "allenai/ai2_arc" : "apple/OpenELM-270M-Instruct"})`);
}

/** The command that fetches what is missing, for messages. */
export function downloadCommand(repo: string, opts: { repoType?: RepoType; revision?: string; include?: string[] } = {}): string {
  return [`openelm download ${repo}`, opts.repoType === "dataset" ? "--repo-type dataset" : "",
    opts.revision && opts.revision !== "main" ? `--revision ${opts.revision}` : "",
    ...(opts.include ?? []).map((g) => `--include "${g}"`)].filter((x) => x !== "").join(" ");
}

/**
 * The local directory of `repo` at `revision`: the cached snapshot when it already holds a loadable
 * model (config.json and the weights), with zero network requests; otherwise downloaded first.
 * Throws HubError in offline mode naming what the cache lacks.
 */
export async function resolveModelDir(repo: string, settings: HubSettings, opts: DownloadOptions = {}): Promise<string> {
  checkRepoId(repo, "model");
  const cached = cachedModelDir(repo, settings, opts.revision ?? "main");
  if (cached.dir) return cached.dir;
  if (settings.offline) throw new HubError(cached.why);
  const snap = await downloadSnapshot(repo, settings, opts);
  const missing = missingModelFiles(snap.dir);
  if (missing.length > 0) {
    throw new HubError(`${repo}@${snap.sha}: the repository has no ${missing.join(", ")}; it is not a model in Hugging Face layout`);
  }
  return snap.dir;
}

/** The cached, complete snapshot dir of repo@revision, or why there is none (offline wording). */
export function cachedModelDir(repo: string, settings: HubSettings, revision: string): { dir?: string; why: string } {
  const repoDir = repoCacheDir(settings.cacheDir, repo);
  const sha = readRef(repoDir, revision);
  const offline = `HF_HUB_OFFLINE=1: ${repo} (revision ${revision})`;
  const fix = `download it while online first (${downloadCommand(repo, { revision })})`;
  if (sha === undefined) {
    return { why: `${offline} is not in the cache: ${join(repoDir, "refs", revision)} is missing; ${fix}` };
  }
  const dir = snapshotDir(repoDir, sha);
  const missing = missingModelFiles(dir);
  if (missing.length === 0) return { dir, why: "" };
  return { why: `${offline}: the cached snapshot ${dir} lacks ${missing.join(", ")}; ${fix}` };
}

/** The cached snapshot dir of dataset repo@revision (offline: whatever files it holds), or why there is none. */
function cachedDatasetDir(repo: string, settings: HubSettings, revision: string): { dir?: string; why: string } {
  const repoDir = repoCacheDir(settings.cacheDir, repo, "dataset");
  const sha = readRef(repoDir, revision);
  const dir = sha === undefined ? undefined : snapshotDir(repoDir, sha);
  if (dir !== undefined && existsSync(dir)) return { dir, why: "" };
  return { why: `HF_HUB_OFFLINE=1: dataset ${repo} (revision ${revision}) is not in the cache (${repoDir}); ` +
    `download it while online first (${downloadCommand(repo, { repoType: "dataset", revision })})` };
}

/**
 * Download the files of repo@revision matching opts.include into the cache (skipping those already
 * there) and return the snapshot. Each blob is written to `<blob>.incomplete`, resumed with a Range
 * request after a broken connection, verified (sha256 for LFS files, git blob sha1 otherwise) and
 * renamed into place only when complete; a corrupt download is discarded and fetched once more.
 */
export async function downloadSnapshot(repo: string, settings: HubSettings, opts: DownloadOptions = {}): Promise<Snapshot> {
  const type = opts.repoType ?? "model";
  checkRepoId(repo, type);
  const revision = opts.revision ?? "main";
  if (settings.offline) {
    const cached = type === "model" ? cachedModelDir(repo, settings, revision) : cachedDatasetDir(repo, settings, revision);
    if (cached.dir) return { repo, sha: dirBaseName(cached.dir), dir: cached.dir, downloaded: [] };
    throw new HubError(cached.why);
  }
  const client = new HubClient(repo, type, settings, opts.signal);
  const info = await client.revisionInfo(revision);
  const repoDir = repoCacheDir(settings.cacheDir, repo, type);
  await writeRef(repoDir, revision, info.sha);
  const dir = snapshotDir(repoDir, info.sha);
  await mkdir(dir, { recursive: true });
  const patterns = (opts.include ?? (type === "model" ? MODEL_FILE_PATTERNS : ["**"])).map(globToRegExp);
  const files = info.files.filter((f) => patterns.some((p) => p.test(f)));
  if (files.length === 0 && opts.include !== undefined && info.files.length > 0) {
    const some = info.files.slice(0, 8).join(", ") + (info.files.length > 8 ? ", …" : "");
    throw new HubError(`${repo}@${info.sha}: no file matches --include ${opts.include.map((g) => `"${g}"`).join(" ")}; it has ${info.files.length} files: ${some}`);
  }
  const downloaded: string[] = [];
  for (const file of files) {
    if (hasSnapshotFile(dir, file)) continue;
    const meta = await client.fileMeta(info.sha, file);
    const blob = blobPath(repoDir, meta.etag);
    if (!existsSync(blob)) {
      await mkdir(dirname(blob), { recursive: true });
      const lock = join(settings.cacheDir, ".locks", basename(repoDir), `${meta.etag}.openelm.lock`);
      await withFileLock(lock, opts.signal, async () => {
        if (existsSync(blob)) return; // another process (or call) finished it while we waited
        await client.downloadBlob(file, meta, blob, opts);
        downloaded.push(file);
      });
    }
    await linkSnapshotFile(repoDir, info.sha, file, meta.etag);
  }
  return { repo, sha: info.sha, dir, downloaded };
}

/**
 * Run fn holding an exclusive lock file (created with O_EXCL, holding our pid), so two processes never
 * append to the same .incomplete file. A lock whose process is gone is stale and taken over.
 * (huggingface_hub uses flock on .locks/<repo>/<etag>.lock; Node has no flock, hence a pid file.)
 */
async function withFileLock<T>(lock: string, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
  await mkdir(dirname(lock), { recursive: true });
  for (;;) {
    try {
      await writeFile(lock, String(process.pid), { flag: "wx" });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    let holder = NaN, age = 0;
    try {
      holder = Number(readFileSync(lock, "utf8"));
      age = Date.now() - statSync(lock).mtimeMs;
    } catch { continue; } // released meanwhile
    const alive = Number.isInteger(holder) && holder > 0 && processAlive(holder);
    if (!alive && (Number.isInteger(holder) || age > 10_000)) { await rm(lock, { force: true }); continue; }
    if (signal?.aborted) throw signal.reason ?? new Error("aborted");
    await new Promise((r) => setTimeout(r, 100));
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { force: true });
  }
}

function dirBaseName(p: string): string {
  return p.split(/[\\/]/).pop() ?? p;
}

/** `*` matches within one path segment, `**` across segments; everything else is literal. */
function globToRegExp(glob: string): RegExp {
  const re = glob.split("**").map((part) =>
    part.split("*").map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join("[^/]*")).join(".*");
  return new RegExp(`^${re}$`);
}

interface FileMeta {
  /** Blob name: the sha256 (LFS) or git sha1 of the content, quotes and W/ stripped. */
  etag: string;
  size: number;
  /** Where the bytes come from (the CDN location for LFS files). */
  url: string;
}

class HubClient {
  constructor(private repo: string, private type: RepoType, private s: HubSettings, private signal?: AbortSignal) {}

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    const h: Record<string, string> = { "user-agent": "openelm-ts", ...extra };
    if (this.s.token) h.authorization = `Bearer ${this.s.token}`;
    return h;
  }

  private async request(url: string, init: RequestInit, what: string): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(url, { ...init, signal: this.signal });
    } catch (e) {
      if (this.signal?.aborted) throw e;
      throw new HubError(`${what}: cannot reach ${url} (${causeOf(e)}); check the network or HF_ENDPOINT, or set HF_HUB_OFFLINE=1 to use only the cache`);
    }
    if (res.status === 401 || res.status === 403) {
      await res.body?.cancel();
      const tokenState = this.s.token
        ? "HF_TOKEN is set but the hub refused it: check that it is valid and that you accepted the repository's terms on its hub page"
        : "the repository is gated or private (or does not exist): accept its terms on its hub page and set HF_TOKEN to an access token";
      const hubSays = res.headers.get("x-error-message"); // e.g. why access to a gated repo was refused
      throw new HubError(`${what}: ${url} answered ${res.status} ${res.status === 401 ? "Unauthorized" : "Forbidden"}` +
        `${hubSays ? ` ("${hubSays}")` : ""}; ${tokenState}`);
    }
    return res;
  }

  async revisionInfo(revision: string): Promise<{ sha: string; files: string[] }> {
    const url = `${this.s.endpoint}/api/${this.type}s/${this.repo}/revision/${encodeURIComponent(revision)}`;
    const res = await this.request(url, { headers: this.headers() }, this.repo);
    if (res.status === 404) {
      await res.body?.cancel();
      throw new HubError(`${this.repo}: revision "${revision}" not found on ${this.s.endpoint} (404)`);
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new HubError(`${this.repo}: ${url} answered ${res.status}`);
    }
    const body = (await res.json()) as { sha?: string; siblings?: Array<{ rfilename: string }> };
    if (typeof body.sha !== "string" || !COMMIT_SHA.test(body.sha) || !Array.isArray(body.siblings)) {
      throw new HubError(`${this.repo}: ${url} returned no commit sha / siblings list`);
    }
    return { sha: body.sha, files: body.siblings.map((x) => x.rfilename) };
  }

  /** HEAD the resolve URL without following the CDN redirect, to learn ETag, size and location. */
  async fileMeta(sha: string, file: string): Promise<FileMeta> {
    const prefix = this.type === "dataset" ? "datasets/" : "";
    let url = `${this.s.endpoint}/${prefix}${this.repo}/resolve/${sha}/${file.split("/").map(encodeURIComponent).join("/")}`;
    for (let hops = 0; hops < 5; hops++) {
      const res = await this.request(url, { method: "HEAD", redirect: "manual", headers: this.headers({ "accept-encoding": "identity" }) }, `${this.repo}/${file}`);
      const location = res.headers.get("location");
      const linkedEtag = res.headers.get("x-linked-etag");
      if (res.status >= 300 && res.status < 400 && location) {
        const next = new URL(location, url).toString();
        // LFS: the hub answers with the CDN location and the content's sha256 as X-Linked-Etag.
        if (linkedEtag) return this.meta(file, linkedEtag, res.headers.get("x-linked-size"), next);
        url = next; // a renamed repository: follow and ask again
        continue;
      }
      if (res.status === 404) throw new HubError(`${this.repo}/${file}: not found at ${url} (404)`);
      if (!res.ok) throw new HubError(`${this.repo}/${file}: HEAD ${url} answered ${res.status}`);
      return this.meta(file, linkedEtag ?? res.headers.get("etag"), res.headers.get("x-linked-size") ?? res.headers.get("content-length"), url);
    }
    throw new HubError(`${this.repo}/${file}: too many redirects from ${url}`);
  }

  private meta(file: string, etag: string | null, size: string | null, url: string): FileMeta {
    const tag = etag?.replace(/^W\//, "").replace(/"/g, "");
    if (!tag) throw new HubError(`${this.repo}/${file}: the hub sent no ETag, so the download cannot be named or verified`);
    const n = Number(size);
    if (size === null || !Number.isInteger(n) || n < 0) throw new HubError(`${this.repo}/${file}: the hub sent no file size (Content-Length / X-Linked-Size)`);
    return { etag: tag, size: n, url };
  }

  async downloadBlob(file: string, meta: FileMeta, blob: string, opts: DownloadOptions): Promise<void> {
    const incomplete = `${blob}.incomplete`;
    const what = `${this.repo}/${file}`;
    let networkRetries = opts.retries ?? 3;
    let corruptRetries = 1;
    let started = false;
    for (;;) {
      let have = existsSync(incomplete) ? statSync(incomplete).size : 0;
      if (have > meta.size) { await rm(incomplete, { force: true }); have = 0; }
      const hash = newVerifier(meta);
      if (have > 0) await hashFile(incomplete, hash);
      if (!started) {
        opts.onProgress?.({ phase: "start", file, bytes: have, total: meta.size, resumedFrom: have });
        started = true;
      }
      try {
        have = await this.transfer(meta, incomplete, have, hash, (bytes) =>
          opts.onProgress?.({ phase: "data", file, bytes, total: meta.size, resumedFrom: 0 }), what);
      } catch (e) {
        if (this.signal?.aborted || e instanceof HubError) throw e;
        if (networkRetries-- > 0) continue; // resume from what reached the disk
        throw new HubError(`${what}: download interrupted (${causeOf(e)}); ${incomplete} is kept and the next run resumes from it`);
      }
      if (have !== meta.size) {
        if (networkRetries-- > 0) continue;
        throw new HubError(`${what}: got ${have} of ${meta.size} bytes; ${incomplete} is kept and the next run resumes from it`);
      }
      const digest = hash.h.digest("hex");
      if (hash.expected !== undefined && digest !== hash.expected) {
        await rm(incomplete, { force: true }); // a corrupt partial must not be resumed
        if (corruptRetries-- > 0) continue;
        throw new HubError(`${what}: checksum mismatch: ${hash.kind} of the downloaded bytes is ${digest}, the hub's ETag says ${hash.expected}; the file was discarded`);
      }
      await rename(incomplete, blob); // atomic: the blob name exists only for verified content
      opts.onProgress?.({ phase: "done", file, bytes: meta.size, total: meta.size, resumedFrom: 0 });
      return;
    }
  }

  /** Append the bytes from `have` on to the .incomplete file; returns the bytes now on disk. */
  private async transfer(meta: FileMeta, incomplete: string, have: number, v: Verifier,
    onData: (bytes: number) => void, what: string): Promise<number> {
    const headers = this.headers({ "accept-encoding": "identity" });
    if (have > 0) headers.range = `bytes=${have}-`;
    // The CDN is another origin: undici drops Authorization on cross-origin redirects, as the hub wants.
    const res = await this.request(meta.url, { headers, redirect: "follow" }, what);
    if (res.status === 416 && have === meta.size) { await res.body?.cancel(); return have; }
    if (res.status === 200 && have > 0) {
      // The server ignored the range: start over.
      have = 0;
      v.h = newVerifier(meta).h;
      await rm(incomplete, { force: true });
    } else if (res.status === 206) {
      const start = /bytes (\d+)-/.exec(res.headers.get("content-range") ?? "")?.[1];
      if (Number(start) !== have) throw new HubError(`${what}: asked for bytes ${have}- and got Content-Range ${res.headers.get("content-range")}`);
    } else if (!res.ok) {
      await res.body?.cancel();
      throw new HubError(`${what}: GET ${meta.url} answered ${res.status}`);
    }
    if (!res.body) throw new HubError(`${what}: empty response body`);
    const fh = await open(incomplete, have > 0 ? "a" : "w");
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        await fh.write(chunk);
        v.h.update(chunk);
        have += chunk.length;
        onData(have);
      }
    } finally {
      await fh.close();
    }
    return have;
  }
}

interface Verifier { h: Hash; expected?: string; kind: string }

/** sha256 for LFS ETags (64 hex); git's blob sha1 ("blob <size>\0" + content) for 40-hex ETags. */
function newVerifier(meta: FileMeta): Verifier {
  if (/^[0-9a-f]{64}$/.test(meta.etag)) return { h: createHash("sha256"), expected: meta.etag, kind: "sha256" };
  const h = createHash("sha1");
  if (/^[0-9a-f]{40}$/.test(meta.etag)) {
    h.update(`blob ${meta.size}\0`);
    return { h, expected: meta.etag, kind: "git blob sha1" };
  }
  return { h, kind: "unverified" }; // an ETag we do not know how to check (e.g. a xet hash)
}

async function hashFile(path: string, v: Verifier): Promise<void> {
  for await (const chunk of createReadStream(path)) v.h.update(chunk as Buffer);
}

function causeOf(e: unknown): string {
  if (e instanceof Error) {
    const c = (e as Error & { cause?: unknown }).cause;
    const code = c && typeof c === "object" && "code" in c ? String((c as { code: unknown }).code) : undefined;
    return code ?? (c instanceof Error ? c.message : e.message);
  }
  return String(e);
}
