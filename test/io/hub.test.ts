// Hub downloads and the HF cache layout, against a local fake hub (hub_fake_server.ts) on 127.0.0.1.
// No test touches the internet.

import { createHash } from "node:crypto";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { hubCacheDir } from "../../src/io/hf_cache.js";
import { downloadSnapshot, HubError, hubSettingsFromEnv, resolveModelDir, type HubSettings, type ProgressEvent } from "../../src/io/hub.js";
import { startFakeHub, type FakeHub, type FakeRepo } from "./hub_fake_server.js";

const SHA = "0123456789abcdef0123456789abcdef01234567";
const REPO = "apple/OpenELM-270M-Instruct";

function pseudoRandomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) { x = (Math.imul(x, 1664525) + 1013904223) >>> 0; out[i] = x >>> 24; }
  return out;
}

const WEIGHTS = pseudoRandomBytes(300_000, 7);
const CONFIG = new TextEncoder().encode('{"model_type": "openelm"}\n');
const GEN = new TextEncoder().encode('{"bos_token_id": 1, "eos_token_id": 2}\n');
const WEIGHTS_SHA256 = createHash("sha256").update(WEIGHTS).digest("hex");

function repo(extra: Partial<FakeRepo> = {}): FakeRepo {
  return {
    sha: SHA,
    files: { "config.json": CONFIG, "generation_config.json": GEN, "model.safetensors": WEIGHTS, "README.md": new TextEncoder().encode("# card\n"), "modeling_openelm.py": new Uint8Array(10) },
    lfs: ["model.safetensors"],
    ...extra,
  };
}

let hub: FakeHub;
let cache: string;
let settings: HubSettings;

beforeEach(async () => {
  hub = await startFakeHub({ [REPO]: repo(), "apple/gated": repo({ gatedToken: "hf_good" }) });
  cache = mkdtempSync(join(tmpdir(), "openelm-hub-"));
  settings = { endpoint: hub.endpoint, cacheDir: cache, offline: false };
});
afterEach(async () => {
  await hub.close();
  rmSync(cache, { recursive: true, force: true });
});

const repoDir = () => join(cache, "models--apple--OpenELM-270M-Instruct");
const cdnGets = () => hub.requests.filter((r) => r.method === "GET" && r.url.startsWith("/cdn/"));

describe("hub download", () => {
  test("fresh download writes the huggingface_hub cache layout", async () => {
    const events: ProgressEvent[] = [];
    const dir = await resolveModelDir(REPO, settings, { onProgress: (e) => events.push(e) });
    expect(dir).toBe(join(repoDir(), "snapshots", SHA));
    expect(readFileSync(join(repoDir(), "refs", "main"), "utf8")).toBe(SHA);
    expect(new Uint8Array(readFileSync(join(dir, "model.safetensors")))).toEqual(WEIGHTS);
    expect(readFileSync(join(dir, "config.json"))).toEqual(Buffer.from(CONFIG));
    // relative symlinks into blobs/<etag>, as Python writes them
    expect(lstatSync(join(dir, "model.safetensors")).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(dir, "model.safetensors"))).toBe(join("..", "..", "blobs", WEIGHTS_SHA256));
    // only model files: no README / python code
    expect(existsSync(join(dir, "README.md"))).toBe(false);
    expect(existsSync(join(dir, "modeling_openelm.py"))).toBe(false);
    expect(existsSync(join(repoDir(), "blobs", `${WEIGHTS_SHA256}.incomplete`))).toBe(false);
    const done = events.filter((e) => e.phase === "done").map((e) => e.file).sort();
    expect(done).toEqual(["config.json", "generation_config.json", "model.safetensors"]);
    expect(events.filter((e) => e.file === "model.safetensors").at(-1)!.bytes).toBe(WEIGHTS.length);
  });

  test("a model already in the cache is resolved with zero requests", async () => {
    await resolveModelDir(REPO, settings);
    const before = hub.requests.length;
    const dir = await resolveModelDir(REPO, settings);
    expect(hub.requests.length).toBe(before);
    expect(new Uint8Array(readFileSync(join(dir, "model.safetensors")))).toEqual(WEIGHTS);
  });

  test("a cache written by Python's huggingface_hub is found with zero requests", async () => {
    const rd = join(cache, "models--apple--OpenELM-450M");
    const sha = "f".repeat(40);
    mkdirSync(join(rd, "blobs"), { recursive: true });
    mkdirSync(join(rd, "refs"));
    mkdirSync(join(rd, "snapshots", sha), { recursive: true });
    writeFileSync(join(rd, "refs", "main"), sha);
    writeFileSync(join(rd, "blobs", "a".repeat(40)), CONFIG);
    writeFileSync(join(rd, "blobs", WEIGHTS_SHA256), WEIGHTS);
    symlinkSync(join("..", "..", "blobs", "a".repeat(40)), join(rd, "snapshots", sha, "config.json"));
    symlinkSync(join("..", "..", "blobs", WEIGHTS_SHA256), join(rd, "snapshots", sha, "model.safetensors"));
    const dir = await resolveModelDir("apple/OpenELM-450M", settings);
    expect(dir).toBe(join(rd, "snapshots", sha));
    expect(hub.requests.length).toBe(0);
  });

  test("an interrupted download resumes with a Range request within the same call", async () => {
    hub.faults.cut = { file: "model.safetensors", bytes: 100_000, times: 1 };
    const dir = await resolveModelDir(REPO, settings);
    expect(new Uint8Array(readFileSync(join(dir, "model.safetensors")))).toEqual(WEIGHTS);
    expect(cdnGets().map((r) => r.range)).toEqual([undefined, "bytes=100000-"]);
  });

  test("an interrupted download keeps its .incomplete file and the next run resumes it", async () => {
    hub.faults.cut = { file: "model.safetensors", bytes: 100_000, times: 1 };
    const incomplete = join(repoDir(), "blobs", `${WEIGHTS_SHA256}.incomplete`);
    await expect(resolveModelDir(REPO, settings, { retries: 0 })).rejects.toThrow(
      `apple/OpenELM-270M-Instruct/model.safetensors: download interrupted (`);
    // nothing that looks complete: no blob, no snapshot entry; the partial bytes are kept
    expect(existsSync(join(repoDir(), "blobs", WEIGHTS_SHA256))).toBe(false);
    expect(existsSync(join(repoDir(), "snapshots", SHA, "model.safetensors"))).toBe(false);
    expect(statSync(incomplete).size).toBe(100_000);
    const events: ProgressEvent[] = [];
    const dir = await resolveModelDir(REPO, settings, { retries: 0, onProgress: (e) => events.push(e) });
    expect(new Uint8Array(readFileSync(join(dir, "model.safetensors")))).toEqual(WEIGHTS);
    expect(cdnGets().at(-1)!.range).toBe("bytes=100000-");
    expect(events.find((e) => e.phase === "start")!.resumedFrom).toBe(100_000);
    expect(existsSync(incomplete)).toBe(false);
  });

  test("a corrupted blob (sha256 mismatch) is rejected and fetched again", async () => {
    hub.faults.corrupt = { file: "model.safetensors", times: 1 };
    const dir = await resolveModelDir(REPO, settings);
    expect(new Uint8Array(readFileSync(join(dir, "model.safetensors")))).toEqual(WEIGHTS);
    expect(cdnGets().map((r) => r.range)).toEqual([undefined, undefined]);
  });

  test("a corrupt partial file is not trusted: the resumed result fails the checksum and is re-fetched whole", async () => {
    mkdirSync(join(repoDir(), "blobs"), { recursive: true });
    const bad = WEIGHTS.slice(0, 50_000);
    bad[10] ^= 1;
    writeFileSync(join(repoDir(), "blobs", `${WEIGHTS_SHA256}.incomplete`), bad);
    const dir = await resolveModelDir(REPO, settings);
    expect(new Uint8Array(readFileSync(join(dir, "model.safetensors")))).toEqual(WEIGHTS);
    expect(cdnGets().map((r) => r.range)).toEqual(["bytes=50000-", undefined]);
  });

  test("a blob corrupt on every try fails with both checksums named and leaves nothing behind", async () => {
    hub.faults.corrupt = { file: "model.safetensors", times: 5 };
    const err = await resolveModelDir(REPO, settings).catch((e) => e);
    expect(err).toBeInstanceOf(HubError);
    expect(err.message).toMatch(new RegExp(
      `^apple/OpenELM-270M-Instruct/model.safetensors: checksum mismatch: sha256 of the downloaded bytes is [0-9a-f]{64}, the hub's ETag says ${WEIGHTS_SHA256}; the file was discarded$`));
    expect(existsSync(join(repoDir(), "blobs", WEIGHTS_SHA256))).toBe(false);
    expect(existsSync(join(repoDir(), "blobs", `${WEIGHTS_SHA256}.incomplete`))).toBe(false);
  });

  test("small (non-LFS) files are verified against their git blob sha1 ETag", async () => {
    hub.faults.corrupt = { file: "config.json", times: 1 };
    const dir = await resolveModelDir(REPO, settings);
    expect(readFileSync(join(dir, "config.json"))).toEqual(Buffer.from(CONFIG));
    expect(hub.requests.filter((r) => r.method === "GET" && r.url.endsWith("/config.json")).length).toBe(2);
  });

  test("two downloads of the same model at once fetch each blob once (lock file) and both succeed", async () => {
    const [a, b] = await Promise.all([resolveModelDir(REPO, settings), resolveModelDir(REPO, settings)]);
    expect(a).toBe(b);
    expect(new Uint8Array(readFileSync(join(a, "model.safetensors")))).toEqual(WEIGHTS);
    expect(cdnGets().length).toBe(1);
    expect(existsSync(join(cache, ".locks", "models--apple--OpenELM-270M-Instruct", `${WEIGHTS_SHA256}.openelm.lock`))).toBe(false);
  });

  test("a stale lock left by a dead process is taken over", async () => {
    mkdirSync(join(cache, ".locks", "models--apple--OpenELM-270M-Instruct"), { recursive: true });
    writeFileSync(join(cache, ".locks", "models--apple--OpenELM-270M-Instruct", `${WEIGHTS_SHA256}.openelm.lock`), "999999999");
    const dir = await resolveModelDir(REPO, settings);
    expect(new Uint8Array(readFileSync(join(dir, "model.safetensors")))).toEqual(WEIGHTS);
  });

  test("offline mode with nothing cached names the missing ref and makes no request", async () => {
    const off = hubSettingsFromEnv({ HF_HUB_OFFLINE: "1", HF_HUB_CACHE: cache, HF_ENDPOINT: hub.endpoint });
    await expect(resolveModelDir(REPO, off)).rejects.toThrow(
      `HF_HUB_OFFLINE=1: apple/OpenELM-270M-Instruct (revision main) is not in the cache: ${join(repoDir(), "refs", "main")} is missing; download it while online first (openelm download apple/OpenELM-270M-Instruct)`);
    expect(hub.requests.length).toBe(0);
  });

  test("offline mode with a partial snapshot names the missing files", async () => {
    await downloadSnapshot(REPO, settings, { include: ["config.json"] });
    const n = hub.requests.length;
    const off = { ...settings, offline: true };
    await expect(resolveModelDir(REPO, off)).rejects.toThrow(
      `HF_HUB_OFFLINE=1: apple/OpenELM-270M-Instruct (revision main): the cached snapshot ${join(repoDir(), "snapshots", SHA)} lacks model.safetensors (or model.safetensors.index.json); download it while online first (openelm download apple/OpenELM-270M-Instruct)`);
    expect(hub.requests.length).toBe(n);
    // once complete, offline mode serves it
    await resolveModelDir(REPO, settings);
    expect(await resolveModelDir(REPO, off)).toBe(join(repoDir(), "snapshots", SHA));
  });

  test("a gated repo without HF_TOKEN answers 401 with a message about HF_TOKEN", async () => {
    await expect(resolveModelDir("apple/gated", settings)).rejects.toThrow(
      `apple/gated: ${hub.endpoint}/api/models/apple/gated/revision/main answered 401 Unauthorized; the repository is gated or private (or does not exist): accept its terms on its hub page and set HF_TOKEN to an access token`);
    await expect(resolveModelDir("apple/gated", { ...settings, token: "hf_bad" })).rejects.toThrow(
      "answered 403 Forbidden; HF_TOKEN is set but the hub refused it");
    const dir = await resolveModelDir("apple/gated", hubSettingsFromEnv({ HF_TOKEN: "hf_good", HF_HUB_CACHE: cache, HF_ENDPOINT: hub.endpoint + "/" }));
    expect(new Uint8Array(readFileSync(join(dir, "model.safetensors")))).toEqual(WEIGHTS);
    expect(hub.requests.at(-1)!.auth).toBe("Bearer hf_good");
  });

  test("unknown revisions and bad repo ids are named", async () => {
    await expect(downloadSnapshot(REPO, settings, { revision: "v9" })).rejects.toThrow(
      `apple/OpenELM-270M-Instruct: revision "v9" not found on ${hub.endpoint} (404)`);
    await expect(resolveModelDir("not a repo", settings)).rejects.toThrow(
      `repository id "not a repo": expected "owner/name" (e.g. apple/OpenELM-270M-Instruct)`);
  });

  test("an unreachable endpoint says how to work offline", async () => {
    const port = await new Promise<number>((r) => { const s = createServer().listen(0, "127.0.0.1", () => { const p = (s.address() as AddressInfo).port; s.close(() => r(p)); }); });
    const dead = { ...settings, endpoint: `http://127.0.0.1:${port}` };
    await expect(resolveModelDir(REPO, dead)).rejects.toThrow(
      `apple/OpenELM-270M-Instruct: cannot reach http://127.0.0.1:${port}/api/models/apple/OpenELM-270M-Instruct/revision/main (ECONNREFUSED); check the network or HF_ENDPOINT, or set HF_HUB_OFFLINE=1 to use only the cache`);
  });
});

describe("hub settings from the environment", () => {
  test("cache directory precedence follows huggingface_hub", () => {
    expect(hubCacheDir({ HF_HUB_CACHE: "/a", HF_HOME: "/b" })).toBe("/a");
    expect(hubCacheDir({ HF_HOME: "/b", XDG_CACHE_HOME: "/c" })).toBe(join("/b", "hub"));
    expect(hubCacheDir({ XDG_CACHE_HOME: "/c" })).toBe(join("/c", "huggingface", "hub"));
    expect(hubCacheDir({}).endsWith(join(".cache", "huggingface", "hub"))).toBe(true);
  });

  test("endpoint, token and offline flags", () => {
    const s = hubSettingsFromEnv({ HF_ENDPOINT: "https://mirror.example/", HF_TOKEN: "t", HF_HUB_OFFLINE: "1" });
    expect(s).toMatchObject({ endpoint: "https://mirror.example", token: "t", offline: true });
    expect(hubSettingsFromEnv({}).endpoint).toBe("https://huggingface.co");
    expect(hubSettingsFromEnv({ HF_HUB_OFFLINE: "0" }).offline).toBe(false);
  });
});
