// Dataset repositories through the built CLI (dist/) against the local fake hub: `openelm download
// --repo-type dataset` fills the HF cache as huggingface_hub does (datasets--org--name, /api/datasets/...,
// /datasets/.../resolve/...), resumes a transfer killed mid-file, and `openelm eval` without task data names the
// exact command that fetches it; after running that command the task evaluates, offline too.

import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { startFakeHub, type FakeHub } from "./hub_fake_server.js";

const SHA = "4".repeat(40), SG_SHA = "5".repeat(40);
// the parquet files of the winogrande fixture (test/fixtures/eval/hf_cache, made by its make_parquet.mjs)
const WG = new URL(`../fixtures/eval/hf_cache/datasets--allenai--winogrande/snapshots/${"0".repeat(40)}/winogrande_xl/`, import.meta.url).pathname;
const FIXTURE_CACHE = new URL("../fixtures/eval/hf_cache", import.meta.url).pathname;
const TINY = new URL("../fixtures/openelm/tiny-32k", import.meta.url).pathname;
const DATA_DIR = new URL("../fixtures/eval/data", import.meta.url).pathname;
let hub: FakeHub;
let cache: string;

beforeAll(async () => {
  const wg = {
    "winogrande_xl/validation-00000-of-00001.parquet": readFileSync(WG + "validation-00000-of-00001.parquet"),
    "winogrande_xl/train-00000-of-00001.parquet": readFileSync(WG + "train-00000-of-00001.parquet"),
    "winogrande_debiased/train-00000-of-00001.parquet": new Uint8Array(3000).fill(1),
    "README.md": new TextEncoder().encode("# winogrande\n"),
  };
  const big = new Uint8Array(300_000).map((_, i) => (i * 7919) % 251);
  hub = await startFakeHub({
    "allenai/winogrande": { type: "dataset", sha: SHA, files: { ...wg, "big.bin": big }, lfs: [...Object.keys(wg).filter((f) => f.endsWith(".parquet")), "big.bin"] },
    // an owner-less (canonical) dataset id, read from the hub's parquet export branch
    "super_glue": { type: "dataset", sha: SG_SHA, revisions: ["refs/convert/parquet"], files: { "boolq/validation/0000.parquet": new Uint8Array(10).fill(2), "cb/test/0000.parquet": new Uint8Array(10) }, lfs: [] },
  });
  cache = mkdtempSync(join(tmpdir(), "openelm-ds-"));
});
afterAll(async () => { await hub.close(); rmSync(cache, { recursive: true, force: true }); });

const env = (extra: Record<string, string> = {}) => ({ ...process.env, HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: cache, HF_TOKEN: "", HF_HUB_OFFLINE: "", ...extra });

function cli(args: string[], extra: Record<string, string> = {}, onStart?: (pid: number) => void): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ["dist/cli/main.js", ...args], { env: env(extra) });
    let stdout = "", stderr = "";
    p.stdout.on("data", (d) => { stdout += d; });
    p.stderr.on("data", (d) => { stderr += d; });
    p.on("exit", (code, signal) => resolve({ code, signal, stdout, stderr }));
    onStart?.(p.pid!);
  });
}

/** Split a shell command line as bash would for the simple quoting the messages use ("..."). */
const words = (line: string) => [...line.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]);

test("eval without task data names the download command; after running it the task evaluates, offline too", async () => {
  const args = ["eval", "--model", TINY, "--tasks", "winogrande", "--limit", "2", "--num-fewshot", "1", "--no-progress"];
  const missing = await cli(args);
  expect(missing.code).toBe(1);
  const cmd = 'openelm download allenai/winogrande --repo-type dataset --include "winogrande_xl/*"';
  expect(missing.stderr).toBe(`openelm: DataError: winogrande: no task data in the HF cache (${cache}); fetch it with: ${cmd} (or pass --data-dir DIR holding winogrande/dev.jsonl)\n`);

  const dl = await cli(words(cmd).slice(1));
  expect(dl.stderr).toMatch(new RegExp(`allenai/winogrande@${SHA}: 2 file\\(s\\) downloaded\\n$`));
  const snap = join(cache, "datasets--allenai--winogrande", "snapshots", SHA);
  expect(dl.stdout).toBe(snap + "\n");
  expect(readFileSync(join(cache, "datasets--allenai--winogrande", "refs", "main"), "utf8")).toBe(SHA);
  expect(readdirSync(join(snap, "winogrande_xl")).sort()).toEqual(["train-00000-of-00001.parquet", "validation-00000-of-00001.parquet"]);
  expect(existsSync(join(snap, "winogrande_debiased"))).toBe(false);
  const urls = hub.requests.map((r) => r.url);
  expect(urls).toContain("/api/datasets/allenai/winogrande/revision/main");
  expect(urls).toContain(`/datasets/allenai/winogrande/resolve/${SHA}/winogrande_xl/validation-00000-of-00001.parquet`);

  // the same results as reading the fixture's cache directly; then offline, with no network at all
  const ours = await cli(args, { HF_HUB_OFFLINE: "1", HF_ENDPOINT: "http://127.0.0.1:9" });
  expect(ours.stderr).toBe("");
  const ref = await cli(args, { HF_HUB_CACHE: FIXTURE_CACHE });
  const table = (s: string) => s.split("\n").filter((l) => l.startsWith("|winogrande")).join("\n");
  expect(table(ours.stdout)).toMatch(/^\|winogrande\|1\.0 +\|none +\|1 +\|acc +\|↑\|\d\.\d{4}\|±\|\d\.\d{4}\|$/);
  expect(table(ours.stdout)).toBe(table(ref.stdout));
}, 60_000);

test("--data-dir in the original files' layout works offline with an empty cache", async () => {
  const r = await cli(["eval", "--model", TINY, "--tasks", "arc_easy", "--limit", "1", "--data-dir", DATA_DIR, "--no-progress"],
    { HF_HUB_OFFLINE: "1", HF_ENDPOINT: "http://127.0.0.1:9", HF_HUB_CACHE: join(cache, "empty") });
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/\|arc_easy *\|1\.0 /);
}, 30_000);

test("an owner-less dataset id at the parquet-export revision; offline from the cache; nothing matching --include", async () => {
  const r = await cli(["download", "super_glue", "--repo-type", "dataset", "--revision", "refs/convert/parquet", "--include", "boolq/**", "-q"]);
  expect(r.stderr).toBe("");
  const snap = join(cache, "datasets--super_glue", "snapshots", SG_SHA);
  expect(r.stdout).toBe(snap + "\n");
  expect(readFileSync(join(cache, "datasets--super_glue", "refs", "refs", "convert", "parquet"), "utf8")).toBe(SG_SHA);
  expect(existsSync(join(snap, "boolq", "validation", "0000.parquet"))).toBe(true);
  expect(existsSync(join(snap, "cb"))).toBe(false);
  expect(hub.requests.map((q) => q.url)).toContain("/api/datasets/super_glue/revision/refs%2Fconvert%2Fparquet");
  const off = await cli(["download", "super_glue", "--repo-type", "dataset", "--revision", "refs/convert/parquet"], { HF_HUB_OFFLINE: "1" });
  expect(off.stdout).toBe(snap + "\n");
  const none = await cli(["download", "allenai/ai2_arc", "--repo-type", "dataset"], { HF_HUB_OFFLINE: "1" });
  expect(none.code).toBe(1);
  expect(none.stderr).toBe(`openelm: HubError: HF_HUB_OFFLINE=1: dataset allenai/ai2_arc (revision main) is not in the cache (${join(cache, "datasets--allenai--ai2_arc")}); ` +
    "download it while online first (openelm download allenai/ai2_arc --repo-type dataset)\n");
  const nomatch = await cli(["download", "super_glue", "--repo-type", "dataset", "--include", "rte/*"]);
  expect(nomatch.code).toBe(1);
  expect(nomatch.stderr).toBe(`openelm: HubError: super_glue@${SG_SHA}: no file matches --include "rte/*"; it has 2 files: boolq/validation/0000.parquet, cb/test/0000.parquet\n`);
}, 30_000);

test("a download killed mid-file (SIGKILL) leaves only the .incomplete blob; the next run resumes it and verifies", async () => {
  hub.faults.stall = { file: "big.bin", bytes: 100_000 };
  const blobs = join(cache, "datasets--allenai--winogrande", "blobs");
  const partial = () => (existsSync(blobs) ? readdirSync(blobs).filter((f) => f.endsWith(".incomplete")) : []);
  const killed = await cli(["download", "allenai/winogrande", "--repo-type", "dataset", "--include", "big.bin"], {}, (pid) => {
    const poll = setInterval(() => {
      const f = partial();
      if (f.length === 1 && statSync(join(blobs, f[0])).size === 100_000) { clearInterval(poll); process.kill(pid, "SIGKILL"); }
    }, 20);
  });
  expect(killed.signal).toBe("SIGKILL");
  const snapFile = join(cache, "datasets--allenai--winogrande", "snapshots", SHA, "big.bin");
  expect(existsSync(snapFile)).toBe(false); // no final name for a partial file
  const [inc] = partial();
  expect(existsSync(join(blobs, inc.replace(/\.incomplete$/, "")))).toBe(false);

  hub.faults.stall = undefined;
  const before = hub.requests.length;
  const resumed = await cli(["download", "allenai/winogrande", "--repo-type", "dataset", "--include", "big.bin"]);
  expect(resumed.code).toBe(0);
  expect(resumed.stderr).toContain("resuming big.bin at 100.0 kB\n");
  expect(hub.requests.slice(before).find((q) => q.url.startsWith("/cdn/"))?.range).toBe("bytes=100000-");
  expect(readFileSync(snapFile).equals(Buffer.from(new Uint8Array(300_000).map((_, i) => (i * 7919) % 251)))).toBe(true);
  expect(partial()).toEqual([]);
}, 30_000);
