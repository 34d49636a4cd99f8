// wllama (llama.cpp compiled to WebAssembly) in a page, for the web benchmark's same-run comparison: a small
// static server with COOP/COEP (so wllama's threads get shared memory) serving wllama's ESM build from an
// install outside this package (`npm install --prefix DIR @wllama/wllama`), the .gguf files asked for, and a
// page whose window.runWllama(modelUrl, prompts, nGen, threads) loads the file and completes each prompt
// (greedy, EOS ignored, no prompt cache) and returns llama.cpp's timings of each run and the threads it ran on.

import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";

const PAGE = `<!doctype html><meta charset="utf-8"><title>wllama bench</title>
<script type="module">
import { Wllama } from "/wllama/esm/index.js";
window.runWllama = async (modelUrl, prompts, nGen, threads) => {
  const wllama = new Wllama({ default: "/wllama/esm/wasm/wllama.wasm" }, { suppressNativeLog: true });
  const blob = await (await fetch(modelUrl)).blob();
  await wllama.loadModel([blob], { n_threads: threads, n_ctx: 1024, n_gpu_layers: 0 });
  const out = [];
  for (const prompt of prompts) {
    const r = await wllama.createCompletion({ prompt, max_tokens: nGen, temperature: 0, ignore_eos: true, cache_prompt: false });
    if (!r.timings) throw new Error("wllama returned no timings");
    out.push(r.timings);
  }
  const info = { isolated: crossOriginIsolated, multithread: wllama.isMultithread(), threads: wllama.getNumThreads() };
  await wllama.exit();
  return { timings: out, info };
};
</script>`;

const TYPES = { ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".html": "text/html", ".json": "application/json" };

/** Serve wllama from DIR (an npm --prefix install) on a free port; model(file) gives a .gguf file's URL. */
export async function startWllamaServer(dir) {
  const esm = path.resolve(dir, "node_modules/@wllama/wllama/esm");
  if (!fs.existsSync(path.join(esm, "index.js")))
    throw new Error(`--wllama ${dir}: no node_modules/@wllama/wllama/esm/index.js there (install it: npm install --prefix ${dir} @wllama/wllama)`);
  const models = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://localhost");
    let file = null;
    if (url.pathname === "/") file = "page";
    else if (url.pathname.startsWith("/wllama/esm/")) file = path.join(esm, path.normalize(url.pathname.slice("/wllama/esm/".length)).replace(/^(\.\.[/\\])+/, ""));
    else if (/^\/models\/\d+\.gguf$/.test(url.pathname)) file = models[Number(url.pathname.slice(8, -5))] ?? null;
    const headers = { "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp", "Cross-Origin-Resource-Policy": "same-origin" };
    if (file === "page") { res.writeHead(200, { ...headers, "Content-Type": "text/html" }); res.end(PAGE); return; }
    if (!file || !fs.existsSync(file) || !fs.statSync(file).isFile()) { res.writeHead(404, headers); res.end("not found"); return; }
    res.writeHead(200, { ...headers, "Content-Type": TYPES[path.extname(file)] ?? "application/octet-stream", "Content-Length": fs.statSync(file).size });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${server.address().port}/`;
  return {
    url,
    model(file) { models.push(path.resolve(file)); return `${url}models/${models.length - 1}.gguf`; },
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
