// Runs every `sh` and `ts` example of the README's hub, chat, server and library sections (between the
// interfaces:begin/end markers), unchanged except for `openelm` -> the built CLI, port 8080 -> a free port and the package
// name -> src/index.ts. A local fake hub serves the tiny fixture as apple/OpenELM-270M-Instruct.

import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { startFakeHub, type FakeHub } from "./io/hub_fake_server.js";

const TINY = "test/fixtures/openelm/tiny-32k";
const README = readFileSync("README.md", "utf8");
const DOC = README.slice(README.indexOf("<!-- interfaces:begin"), README.indexOf("<!-- interfaces:end -->"));
const blocks = [...DOC.matchAll(/```(\w+)([^\n]*)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1], tag: m[2].trim(), code: m[3] }));

let hub: FakeHub;
let cache: string;
let port: number;
let server: ChildProcess | undefined;
let env: NodeJS.ProcessEnv;
const saved = { ...process.env };

beforeAll(async () => {
  const files: Record<string, Uint8Array> = {};
  for (const f of ["config.json", "generation_config.json", "model.safetensors"]) files[f] = readFileSync(join(TINY, f));
  hub = await startFakeHub({ "apple/OpenELM-270M-Instruct": { sha: "3".repeat(40), files, lfs: ["model.safetensors"] } });
  cache = mkdtempSync(join(tmpdir(), "openelm-docs-"));
  port = await new Promise<number>((r) => { const s = createServer().listen(0, "127.0.0.1", () => { const p = (s.address() as { port: number }).port; s.close(() => r(p)); }); });
  env = { ...process.env, HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: cache, HF_HUB_OFFLINE: "", HF_TOKEN: "", OPENELM_BACKEND: "ref" };
  Object.assign(process.env, { HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: cache, HF_HUB_OFFLINE: "", HF_TOKEN: "" }); // for the library examples
});
afterAll(async () => {
  if (server && server.exitCode === null) server.kill("SIGTERM");
  await hub.close();
  rmSync(cache, { recursive: true, force: true });
  process.env = saved;
});

const shell = (code: string) => code.replace(/(^|\| )openelm /gm, "$1node dist/cli/main.js ").replaceAll("8080", String(port));

function sh(code: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const p = spawn("bash", ["-euo", "pipefail", "-c", shell(code)], { env });
    let stdout = "", stderr = "";
    p.stdout.on("data", (d) => { stdout += d; });
    p.stderr.on("data", (d) => { stderr += d; });
    p.on("exit", (c) => done({ code: c, stdout, stderr }));
  });
}

test("the docs have the examples this test runs", () => {
  expect(blocks.filter((b) => b.lang === "sh").length).toBe(4);
  expect(blocks.filter((b) => b.lang === "ts").length).toBe(2);
});

test("docs: hub download and chat examples", async () => {
  const [download, chat] = blocks.filter((b) => b.lang === "sh" && b.tag === "");
  const d = await sh(download.code);
  expect(d.code).toBe(0);
  expect(d.stderr).toMatch(/^model\.safetensors: 20\.0 MB in /m);
  expect(d.stdout.trim().split("\n")).toEqual(Array(2).fill(join(cache, "models--apple--OpenELM-270M-Instruct", "snapshots", "3".repeat(40))));
  const c = await sh(chat.code);
  expect(c.code).toBe(0);
  expect(c.stdout.split("\n").length).toBe(3); // two replies
  expect(c.stderr).toMatch(/prompt tokens saved by reusing the KV cache: [1-9]\d*\n$/);
}, 60_000);

test("docs: server, curl and openai client examples", async () => {
  const serve = blocks.find((b) => b.tag === "server")!;
  server = spawn("bash", ["-c", `exec ${shell(serve.code).trim()}`], { env, stdio: ["ignore", "ignore", "pipe"] });
  await new Promise<void>((ok, fail) => {
    let err = "";
    server!.stderr!.on("data", (d) => { err += d; if (err.includes(`:${port}/v1`)) ok(); });
    server!.on("exit", (c) => fail(new Error(`serve exited ${c}: ${err}`)));
  });
  const curl = blocks.filter((b) => b.lang === "sh" && b.tag === "")[2];
  const r = await sh(curl.code);
  expect(r.code).toBe(0);
  const cut = r.stdout.indexOf("data: "); // curl prints the JSON answer without a newline
  const chatJson = r.stdout.slice(0, cut);
  const sse = r.stdout.slice(cut).split("\n").filter(Boolean);
  expect(JSON.parse(chatJson)).toMatchObject({ object: "chat.completion", model: "apple/OpenELM-270M-Instruct", usage: { completion_tokens: 16 } });
  expect(sse.at(-1)).toBe("data: [DONE]");
  await runTs(blocks.filter((b) => b.lang === "ts")[0].code);
}, 60_000);

test("docs: library example", async () => {
  await runTs(blocks.filter((b) => b.lang === "ts")[1].code);
}, 60_000);

/** Import the example as a module (vitest compiles the TypeScript), from a temp file beside this test. */
async function runTs(code: string): Promise<void> {
  const file = resolve("test", `.docs_example_${process.pid}_${Math.random().toString(36).slice(2)}.ts`);
  writeFileSync(file, code.replaceAll('"openelm-ts"', JSON.stringify(resolve("src/index.ts"))).replaceAll("8080", String(port)));
  try {
    await import(file);
  } finally {
    rmSync(file, { force: true });
  }
}
