// What users install is what is tested: `npm pack`, install the tarball in an empty project (offline,
// see below), run the README's library example from it, and check the public subpaths.

import { execFile, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, expect, test } from "vitest";

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), "openelm-pack-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const README = readFileSync("README.md", "utf8");
const library = README.slice(README.indexOf("## Library"));
const example = /```js\n([\s\S]*?)```/.exec(library)![1];

test("the packed tarball installs, runs the README's library example, and exposes only the public subpaths", async () => {
  const packed = await run("npm", ["pack", "--json", "--pack-destination", dir], { maxBuffer: 1 << 26 });
  const info = JSON.parse(packed.stdout)[0] as { filename: string; size: number; files: Array<{ path: string }> };
  const paths = info.files.map((f) => f.path);
  expect(paths).toContain("assets/models/default/model.safetensors");
  expect(paths).toContain("dist/kernels/wasm/kernels.wasm");
  expect(paths.filter((p) => p.startsWith("test/") || p.startsWith("src/") && !p.startsWith("src/train/recipes/"))).toEqual([]);
  expect(paths).toContain("assets/models/default-instruct/adapter_model.safetensors");
  // the default model (15.7 MB of BF16) and its chat adapter (3.5 MB of f32) are most of it: ~16.3 MB packed
  expect(info.size).toBeLessThan(17.5e6);

  // Install as npm lays it out: the package unpacked in node_modules/openelm-ts, each declared dependency
  // beside it (linked from this checkout's node_modules, since tests must not download): an import of
  // anything not in "dependencies" or a file left out of "files" fails here.
  const app = join(dir, "app"), nm = join(app, "node_modules");
  mkdirSync(nm, { recursive: true });
  await run("tar", ["-xzf", resolve(dir, info.filename), "-C", nm]);
  renameSync(join(nm, "package"), join(nm, "openelm-ts"));
  const deps = Object.keys(JSON.parse(readFileSync("package.json", "utf8")).dependencies as object);
  for (const d of deps) {
    mkdirSync(dirname(join(nm, d)), { recursive: true });
    symlinkSync(resolve("node_modules", d), join(nm, d));
  }
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", type: "module", dependencies: { "openelm-ts": "0.1.0" } }));
  writeFileSync(join(app, "example.mjs"), example);
  const out = await run("node", ["example.mjs"], { cwd: app });
  expect(out.stdout).toMatch(/^Once upon a time|\S/);
  expect(out.stdout).toMatch(/\[48 tokens, length, backend wasm(-relaxed)?\]\n$/);

  writeFileSync(join(app, "subpaths.mjs"), `
    const t = await import("openelm-ts/tokenizer"); const e = await import("openelm-ts/eval");
    const tr = await import("openelm-ts/train"); const k = await import("openelm-ts/kernels");
    const tok = await t.loadTokenizer();
    console.log(JSON.stringify({ ids: tok.encode("Hello"), tasks: e.knownTaskNames().includes("arc_easy"),
      train: typeof tr.AdamW, kernels: k.BACKEND_NAMES }));
    try { await import("openelm-ts/dist/engine.js"); console.log("deep import allowed"); }
    catch (err) { console.log(err.code); }`);
  const sub = await run("node", ["subpaths.mjs"], { cwd: app });
  const [json, deep] = sub.stdout.trim().split("\n");
  expect(JSON.parse(json)).toEqual({ ids: [1, 15043], tasks: true, train: "function", kernels: ["auto", "wasm", "ref", "webgpu"] });
  expect(deep).toBe("ERR_PACKAGE_PATH_NOT_EXPORTED");

  // `openelm web` from the package: the app, and the model and tokenizer it ships once, under assets/.
  const model = readdirSync("dist/web/models")[0];
  const web = spawn("node", [join(nm, "openelm-ts/dist/cli/main.js"), "web", "--port", "0"], { cwd: app });
  try {
    const url = await new Promise<string>((ok, fail) => {
      let out = "";
      web.stdout.on("data", (d) => { out += d; const m = /at (http:\S+)/.exec(out); if (m) ok(m[1]); });
      web.on("exit", (c) => fail(new Error(`openelm web exited ${c}`)));
    });
    for (const [p, size] of [["", 0], ["tokenizer.model", 499723], [`models/${model}/config.json`, 0], [`models/${model}/model.safetensors`, 15727448]] as const) {
      const r = await fetch(url + p);
      expect(r.status, p).toBe(200);
      expect(r.headers.get("cross-origin-embedder-policy")).toBe("require-corp");
      const body = await r.arrayBuffer();
      if (size) expect(body.byteLength, p).toBe(size);
    }
  } finally {
    web.kill();
  }
}, 240_000);
