// Build the static web app into dist/web: the page, its scripts bundled with esbuild, the WebAssembly
// kernels, the bundled tokenizer, the embedded default model and its default-instruct adapter. Run by
// `npm run build` after tsc.
//
// Node-only modules must not reach the browser: the library's `node:` imports resolve to stubs here, and
// the build fails if any stub is left in a bundle once unused code is dropped (a browser path that calls
// into fs / worker_threads). Bare builtins ("fs") come only from the SentencePiece module's Node branch,
// which it takes only under Node; they resolve to empty modules.

import * as esbuild from "esbuild";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { builtinModules } from "node:module";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const out = path.join(root, "dist/web");
const rel = (p) => path.join(root, p);

const hash = (...files) => {
  const h = createHash("sha256");
  for (const f of files) h.update(fs.readFileSync(f));
  return h.digest("hex").slice(0, 12);
};

const DEFAULT_MODEL_FILES = ["config.json", "generation_config.json", "model.safetensors"];
const defaultModel = `default-${hash(...DEFAULT_MODEL_FILES.map((f) => rel(`assets/models/default/${f}`)))}`;
// default-instruct: the default model with this PEFT adapter, applied unmerged in the engine worker
const INSTRUCT_FILES = ["adapter_config.json", "adapter_model.safetensors"];
const defaultInstruct = `default-instruct-${hash(...INSTRUCT_FILES.map((f) => rel(`assets/models/default-instruct/${f}`)))}`;

const nodeStubs = {
  name: "node-stubs",
  setup(b) {
    b.onResolve({ filter: /^node:/ }, (a) => ({ path: a.path, namespace: "node-stub", sideEffects: false }));
    const bare = new RegExp(`^(${builtinModules.map((m) => m.replace(/[/]/g, "\\/")).join("|")})$`);
    b.onResolve({ filter: bare }, (a) => ({ path: a.path, namespace: "node-empty", sideEffects: false }));
    b.onLoad({ filter: /.*/, namespace: "node-stub" }, async (a) => {
      const names = Object.keys(await import(a.path)).filter((n) => /^[A-Za-z_$][\w$]*$/.test(n) && n !== "default");
      const body = names.map((n) => `export const ${n} = undefined;`).join("\n");
      return { contents: `${body}\nexport default undefined;\n`, loader: "js" };
    });
    b.onLoad({ filter: /.*/, namespace: "node-empty" }, () => ({ contents: "module.exports = {};", loader: "js" }));
  },
};

fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(path.join(out, "models", defaultModel), { recursive: true });
fs.mkdirSync(path.join(out, "models", defaultInstruct), { recursive: true });

const common = {
  bundle: true, format: "esm", platform: "browser", target: "es2022", outdir: out, metafile: true, logLevel: "warning",
  plugins: [nodeStubs], define: { __DEFAULT_MODEL__: JSON.stringify(defaultModel), __DEFAULT_INSTRUCT__: JSON.stringify(defaultInstruct) },
  // the SentencePiece module's Node branch: `import("module")` and friends, never run in a browser
  external: ["module"],
};
const result = await esbuild.build({
  ...common,
  entryPoints: { app: rel("web/app.ts"), engine_worker: rel("web/engine_worker.ts"), kernel_worker: rel("src/kernels/wasm/web_worker.ts") },
});
const leaks = [];
for (const [file, o] of Object.entries(result.metafile.outputs))
  for (const [input, i] of Object.entries(o.inputs))
    if (input.startsWith("node-stub:") && i.bytesInOutput > 0) leaks.push(`${path.relative(root, file)}: ${input.slice(10)}`);
if (leaks.length && !process.env.WEB_BUILD_DEBUG) {
  console.error(`web build: Node-only modules reached the browser bundle (a browser code path calls into them):\n  ${leaks.join("\n  ")}`);
  process.exit(1);
}

const copy = (from, to) => fs.copyFileSync(rel(from), path.join(out, to));
copy("web/index.html", "index.html");
copy("web/style.css", "style.css");
copy("dist/kernels/wasm/kernels.wasm", "kernels.wasm");
copy("dist/kernels/wasm/kernels_relaxed.wasm", "kernels_relaxed.wasm");
copy("assets/tokenizer/llama2/tokenizer.model", "tokenizer.model");
for (const f of DEFAULT_MODEL_FILES) copy(`assets/models/default/${f}`, `models/${defaultModel}/${f}`);
for (const f of INSTRUCT_FILES) copy(`assets/models/default-instruct/${f}`, `models/${defaultInstruct}/${f}`);

const shell = ["./", "./index.html", "./style.css", "./app.js", "./engine_worker.js", "./kernel_worker.js", "./kernels.wasm",
  "./kernels_relaxed.wasm", "./tokenizer.model"];
const build = hash(...shell.slice(1).map((f) => path.join(out, f)));
await esbuild.build({ ...common, entryPoints: { sw: rel("web/sw.ts") }, define: { __SHELL__: JSON.stringify(shell), __BUILD__: JSON.stringify(build) } });
const size = (f) => (fs.statSync(path.join(out, f)).size / 2 ** 20).toFixed(1);
console.log(`web build: dist/web (app.js ${size("app.js")} MB, engine_worker.js ${size("engine_worker.js")} MB, default model ${defaultModel})`);
