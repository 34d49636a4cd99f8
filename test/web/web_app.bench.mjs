// Benchmark command (not part of npm test): the web app in headless Chromium against `openelm bench` in Node
// on the same model files, same thread count. In the page: load through the file input (or the embedded
// default model), then r generations of a fixed prompt with EOS ignored; prefill tokens/s = prompt tokens /
// time to the first token, decode tokens/s = (generated - 1) / time after the first token, from the page's
// #output data attributes. Node, taking turns with the page: `openelm bench -m FILE -p P -n 0` and `-p 0 -n N -d P`
// (decode after the prompt's P tokens, as the page's), -t T -r 1 --json.
// The page's clock runs from the first token's message to the final one; the engine sends the first token at
// once and later ones together (one message per 100 ms), so the span holds decode steps 2 … N and one message's
// latency. N defaults to 128 (llama-bench's tg): the 8M default model decodes 32 tokens in a few tens of ms, too short a
// span to measure against a shared machine's noise.
//
//
// --wllama DIR: in the same run, wllama (llama.cpp compiled to WebAssembly, installed outside this package:
// `npm install --prefix DIR @wllama/wllama`) on the same .gguf files, the same threads and prompt, in its own
// page served with COOP/COEP (wllama_page.mjs); its prefill / decode tokens/s are llama.cpp's own timings.
//
//   npm run build && node test/web/web_app.bench.mjs [--threads 2] [--runs 3] [--n-gen 128] [--dot-add auto|on|off] [--wllama DIR] [MODEL.gguf|DIR ...]
//   (no files: the embedded default model; a .gguf of it: node dist/cli/main.js quantize --type q8_0 -o default-q8_0.gguf)

import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { launchChromium, startWebServer } from "./chromium.mjs";
import { startWllamaServer } from "./wllama_page.mjs";
import { ggufGet, openGguf } from "../../dist/io/gguf.js";

const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(name); if (i < 0) return dflt; const v = args[i + 1]; args.splice(i, 2); return Number(v); };
const optStr = (name) => { const i = args.indexOf(name); if (i < 0) return undefined; const v = args[i + 1]; args.splice(i, 2); return v; };
const threads = opt("--threads", 2), runs = opt("--runs", 3), nGen = opt("--n-gen", 128);
const wllamaDir = optStr("--wllama");
const dotAdd = optStr("--dot-add") ?? "auto"; // the page's dot_add= (and Node's --dot-add)
const models = args.length ? args : ["default"];
if (wllamaDir && !models.some((m) => m.toLowerCase().endsWith(".gguf")))
  throw new Error("--wllama: wllama reads .gguf files; pass one (a .gguf of the default model: node dist/cli/main.js quantize --type q8_0 -o default-q8_0.gguf)");
const PROMPT = "The old house stood at the end of the lane, and every evening the lamps were lit in its windows. ".repeat(5);

const WORDS = ["Morning", "Evening", "Winter", "Summer", "Autumn", "Spring", "Midnight", "Sunday", "Harbour", "Forest", "Market"];

/** Ids of a GGUF's byte-fallback tokens (tokenizer.ggml.token_type 6), which wllama's page bans (wllama_page.mjs). */
function byteTokens(file) {
  const g = openGguf(file);
  try { return (ggufGet(g.header, "tokenizer.ggml.token_type")?.value.items ?? []).flatMap((t, i) => (Number(t) === 6 ? [i] : [])); } finally { g.close(); }
}

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs) => { const m = mean(xs); return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(1, xs.length - 1)); };
const fmt = (xs) => `${mean(xs).toFixed(2)} ± ${sd(xs).toFixed(2)}`;

const server = await startWebServer();
const ctx = await launchChromium();
const wllama = wllamaDir ? await startWllamaServer(wllamaDir) : null;
const rows = [];
try {
  for (const model of models) {
    const page = await ctx.newPage();
    await page.goto(`${server.url}?sw=0&dot_add=${dotAdd}`);
    if (model !== "default") await page.setInputFiles("#model-file", model);
    await page.fill("#threads", String(threads));
    await page.click("#load");
    await page.waitForFunction(() => ["ready", "error"].includes(document.body.dataset.state), null, { timeout: 600_000, polling: 500 });
    const info = await page.textContent("#model-info");
    const err = await page.textContent("#error");
    if (err) throw new Error(`${model}: ${err}`);
    await page.fill("#max-new-tokens", String(nGen));
    await page.check("#ignore-eos");
    const pp = [], tg = [], nodePP = [], nodeTG = [];
    const file = model === "default" ? "assets/models/default" : model;
    // Node's bench for one repetition: -p P -n 0, or -p 0 -n N -d P (decode after the same P tokens the page's does).
    const nodeBench = (args) => JSON.parse(execFileSync(process.execPath, ["dist/cli/main.js", "bench", "-m", file, ...args,
      "-t", String(threads), "-r", "1", "--dot-add", dotAdd, "--json"], { encoding: "utf8", maxBuffer: 1 << 26 })).results[0].samples_ts[0];
    let promptTokens = 0, backend = "";
    for (let r = 0; r < runs + 1; r++) { // the first run warms up; then the page and Node take turns, so drift of the host hits both
      // A different first word each run: the engine's prefix cache would otherwise skip the whole prompt.
      await page.fill("#prompt", `${WORDS[r % WORDS.length]}. ${PROMPT}`);
      await page.click("#generate");
      // Polled every second, not every animation frame: a frame loop would take the cores the kernels need.
      await page.waitForFunction(() => ["done", "error"].includes(document.body.dataset.state), null, { timeout: 600_000, polling: 1000 });
      const d = await page.evaluate(() => ({ ...document.getElementById("output").dataset, error: document.getElementById("error").textContent }));
      if (d.error) throw new Error(`${model}: ${d.error}`);
      promptTokens = Number(d.promptTokens); backend = d.backend;
      if (r === 0) continue;
      pp.push(Number(d.prefillTps)); tg.push(Number(d.decodeTps));
      nodePP.push(nodeBench(["-p", String(promptTokens), "-n", "0"]));
      nodeTG.push(nodeBench(["-p", "0", "-n", String(nGen), "-d", String(promptTokens)]));
    }
    await page.close();
    const row = { model: path.basename(file), backend, info, promptTokens, browserPP: pp, browserTG: tg, nodePP, nodeTG };
    if (wllama && file.toLowerCase().endsWith(".gguf")) {
      const w = await ctx.newPage();
      await w.goto(wllama.url);
      const prompts = Array.from({ length: runs + 1 }, (_, r) => `${WORDS[r % WORDS.length]}. ${PROMPT}`);
      const { timings: t, info: wi } = await w.evaluate(([m, size, ps, n, th, bytes]) => window.runWllama(m, size, ps, n, th, bytes),
        [wllama.model(file), fs.statSync(file).size, prompts, nGen, threads, byteTokens(file)]);
      await w.close();
      if (!wi.isolated || wi.threads !== threads) throw new Error(`wllama ran on ${wi.threads} threads (cross-origin isolated: ${wi.isolated}), not ${threads}`);
      Object.assign(row, { wllamaPP: t.slice(1).map((x) => x.prompt_per_second), wllamaTG: t.slice(1).map((x) => x.predicted_per_second),
        wllamaPrompt: t[1].prompt_n, wllamaGen: t[1].predicted_n });
    }
    rows.push(row);
  }
} finally {
  await ctx.close();
  await server.stop();
  await wllama?.stop();
}
console.log(`threads ${threads}, ${runs} runs (after 1 warm-up), decode ${nGen} tokens\n`);
const w = (r, xs) => (r.wllamaPP ? [` ${fmt(xs === "pp" ? r.wllamaPP : r.wllamaTG)} |`, ` ${(mean(xs === "pp" ? r.browserPP : r.browserTG) / mean(xs === "pp" ? r.wllamaPP : r.wllamaTG)).toFixed(2)} |`] : wllama ? [" n/a |", " n/a |"] : ["", ""]).join("");
console.log("| model | test | Chromium (tokens/s) | Node `openelm bench` (tokens/s) | Chromium / Node |" + (wllama ? " wllama in Chromium (tokens/s) | Chromium / wllama |" : ""));
console.log("|---|---|---|---|---|" + (wllama ? "---|---|" : ""));
for (const r of rows) {
  console.log(`| ${r.model} | pp${r.promptTokens} | ${fmt(r.browserPP)} | ${fmt(r.nodePP)} | ${(mean(r.browserPP) / mean(r.nodePP)).toFixed(2)} |${w(r, "pp")}`);
  console.log(`| ${r.model} | tg${nGen} @ d${r.promptTokens} | ${fmt(r.browserTG)} | ${fmt(r.nodeTG)} | ${(mean(r.browserTG) / mean(r.nodeTG)).toFixed(2)} |${w(r, "tg")}`);
}
for (const r of rows) if (r.wllamaPP) console.log(`\n${r.model}: wllama prompt ${r.wllamaPrompt} tokens, generated ${r.wllamaGen}`);
for (const r of rows) console.log(`\n${r.model}: ${r.info}`);
