// wllama (llama.cpp compiled to WebAssembly) in a page, for the web benchmark's same-run comparison: a small
// static server with COOP/COEP (so wllama's threads get shared memory) serving wllama's ESM build from an
// install outside this package (`npm install --prefix DIR @wllama/wllama`), the .gguf files asked for, and a
// page whose window.runWllama(modelUrl, size, prompts, nGen, threads, byteTokens) fetches the file (checking it
// got the whole GGUF), loads it and completes each prompt (greedy, EOS ignored, no prompt cache, the byte tokens
// banned) and returns llama.cpp's timings of each run and the threads it ran on. A failure inside wllama names
// llama.cpp's own error.

import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";

const PAGE = `<!doctype html><meta charset="utf-8"><title>wllama bench</title><link rel="icon" href="data:,">
<script type="module">
import { Wllama } from "/wllama/esm/index.js";
window.runWllama = async (modelUrl, size, prompts, nGen, threads, byteTokens) => {
  // wllama 3.13 reports any failure of its llama.cpp (a model that does not load, a bad request) as
  // "RangeError: Invalid typed array length: 1163217991" (its action returns no response, and the request's
  // "GLUE" header is read as the response's length), and a model that does not load only fails at the first
  // completion: keep llama.cpp's own error lines (log level: errors only) to say what failed, and when.
  // Byte-fallback tokens are banned (logit bias false): a model with random weights strings them into invalid
  // UTF-8, which wllama's JSON response cannot hold ("[json.exception.type_error.316] invalid UTF-8 byte", the
  // completion fails). Which tokens are generated does not change the work: the count is fixed (EOS ignored).
  const native = [];
  const logger = { debug() {}, log() {}, warn() {}, error: (...a) => native.push(a.map(String).join(" ")) };
  const wllama = new Wllama({ default: "/wllama/esm/wasm/wllama.wasm" }, { suppressNativeLog: false, logger });
  const failed = (what, e) => new Error(\`wllama: \${what}: \${native.filter((l) => !/Invalid typed array length|^Stack trace/.test(l))
    .map((l) => l.split("\\n")[0].trim()).filter(Boolean).join("; ") || e.message}\`);
  const r = await fetch(modelUrl, { cache: "no-store" });
  if (!r.ok) throw new Error(\`\${modelUrl}: HTTP \${r.status}\`);
  const blob = await r.blob();
  const magic = new TextDecoder().decode(await blob.slice(0, 4).arrayBuffer());
  if (blob.size !== size || magic !== "GGUF") throw new Error(\`\${modelUrl}: got \${blob.size} bytes starting "\${magic}", expected the \${size}-byte GGUF file\`);
  try {
    await wllama.loadModel([blob], { n_threads: threads, n_ctx: 1024, n_gpu_layers: 0, log_level: 4 /* errors only */ });
  } catch (e) { throw failed("loading the model", e); }
  // loadModel resolves even when llama.cpp failed to load (the first completion then fails): its error lines tell
  if (native.length) throw failed("loading the model", new Error("llama.cpp logged errors"));
  const out = [];
  for (const prompt of prompts) {
    let r;
    try {
      r = await wllama.createCompletion({ prompt, max_tokens: nGen, temperature: 0, ignore_eos: true, cache_prompt: false,
        logit_bias: byteTokens.map((id) => [id, false]) });
    } catch (e) { throw failed("completion", e); }
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
    res.writeHead(200, { ...headers, "Content-Type": TYPES[path.extname(file)] ?? "application/octet-stream", "Content-Length": fs.statSync(file).size,
      "Cache-Control": "no-store" });
    fs.createReadStream(file).on("error", (e) => res.destroy(e)).pipe(res);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${server.address().port}/`;
  return {
    url,
    model(file) { models.push(path.resolve(file)); return `${url}models/${models.length - 1}.gguf`; },
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
