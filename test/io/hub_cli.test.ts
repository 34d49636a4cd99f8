// `openelm download` as a process against the local fake hub: prints the snapshot directory, honours
// HF_ENDPOINT / HF_HUB_CACHE / HF_HUB_OFFLINE / HF_TOKEN, and fails with one clear line. Runs dist/.

import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, expect, test } from "vitest";
import { Writable } from "node:stream";
import { progressReporter } from "../../src/cli/download.js";
import { startFakeHub, type FakeHub } from "./hub_fake_server.js";

const run = promisify(execFile);
const SHA = "2".repeat(40);
let hub: FakeHub;
let cache: string;

beforeAll(async () => {
  const files = { "config.json": new TextEncoder().encode("{}\n"), "model.safetensors": new Uint8Array(50_000).fill(7), "README.md": new TextEncoder().encode("hi") };
  hub = await startFakeHub({ "apple/OpenELM-tiny": { sha: SHA, files, lfs: ["model.safetensors"] }, "apple/gated": { sha: SHA, files, lfs: ["model.safetensors"], gatedToken: "hf_ok" } });
  cache = mkdtempSync(join(tmpdir(), "openelm-dl-"));
});
afterAll(async () => { await hub.close(); rmSync(cache, { recursive: true, force: true }); });

const env = (extra: Record<string, string> = {}) => ({ ...process.env, HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: cache, HF_TOKEN: "", HF_HUB_OFFLINE: "", ...extra });

test("openelm download fetches into the HF cache and prints the snapshot directory", async () => {
  const r = await run(process.execPath, ["dist/cli/main.js", "download", "apple/OpenELM-tiny"], { env: env() });
  const dir = join(cache, "models--apple--OpenELM-tiny", "snapshots", SHA);
  expect(r.stdout).toBe(dir + "\n");
  expect(readFileSync(join(dir, "model.safetensors")).length).toBe(50_000);
  expect(r.stderr).toMatch(/^model\.safetensors: 50\.0 kB in \d+\.\d s \(.*\/s\)$/m);
  expect(r.stderr).toContain(`apple/OpenELM-tiny@${SHA}: 2 file(s) downloaded\n`);
  // offline, the cached model is served from the cache
  const off = await run(process.execPath, ["dist/cli/main.js", "download", "apple/OpenELM-tiny"], { env: env({ HF_HUB_OFFLINE: "1" }) });
  expect(off.stdout).toBe(dir + "\n");
});

test("offline with nothing cached, and a gated repo without a token, fail with one line", async () => {
  const off = await run(process.execPath, ["dist/cli/main.js", "download", "apple/OpenELM-270M"], { env: env({ HF_HUB_OFFLINE: "1" }) }).catch((e) => e);
  expect(off.code).toBe(1);
  expect(off.stderr).toBe(`openelm: HubError: HF_HUB_OFFLINE=1: apple/OpenELM-270M (revision main) is not in the cache: ${join(cache, "models--apple--OpenELM-270M", "refs", "main")} is missing; download it while online first (openelm download apple/OpenELM-270M)\n`);
  const gated = await run(process.execPath, ["dist/cli/main.js", "download", "apple/gated"], { env: env() }).catch((e) => e);
  expect(gated.code).toBe(1);
  expect(gated.stderr).toMatch(/^openelm: HubError: apple\/gated: .* answered 401 Unauthorized; .* set HF_TOKEN to an access token\n$/);
  const ok = await run(process.execPath, ["dist/cli/main.js", "download", "apple/gated", "-q"], { env: env({ HF_TOKEN: "hf_ok" }) });
  expect(ok.stderr).toBe("");
});

test("on a terminal the progress bar shows bytes, rate and ETA", async () => {
  let out = "";
  const tty = Object.assign(new Writable({ write(chunk, _enc, cb) { out += chunk; cb(); } }), { isTTY: true, columns: 120 }) as unknown as NodeJS.WriteStream;
  const report = progressReporter(false, tty);
  report({ phase: "start", file: "model.safetensors", bytes: 1_000_000, total: 4_000_000, resumedFrom: 1_000_000 });
  await new Promise((r) => setTimeout(r, 120));
  report({ phase: "data", file: "model.safetensors", bytes: 2_500_000, total: 4_000_000, resumedFrom: 0 });
  await new Promise((r) => setTimeout(r, 120));
  report({ phase: "done", file: "model.safetensors", bytes: 4_000_000, total: 4_000_000, resumedFrom: 0 });
  const plain = out.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "");
  expect(plain).toContain("resuming model.safetensors at 1.0 MB\n");
  expect(plain).toMatch(/model\.safetensors \|[█░]+\| 62% 2\.5 MB\/4\.0 MB \d+(\.\d)? MB\/s ETA \d+s/);
  expect(plain).toMatch(/model\.safetensors \|█+\| 100% 4\.0 MB\/4\.0 MB \d+(\.\d)? MB\/s ETA 0s/);
});
