#!/usr/bin/env node
// Library vs CLI generation speed on the same model: `loadModel()` with its defaults (what the README's
// library example does) against `openelm generate --stats`, both greedy, same prompt, same token count,
// each in its own process, alternating. The library is imported from dist/, the files `npm pack` ships.
//   node test/library.bench.mjs [--model DIR|FILE.gguf] [-n 200] [-r 5] [-t THREADS]
// Prints one JSON line per run and a summary with the median tokens/s of each and their ratio.

import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const arg = (name, dflt) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : dflt; };
const model = arg("--model", undefined), n = Number(arg("-n", 200)), reps = Number(arg("-r", 5)), threads = arg("-t", undefined);
const prompt = "Once upon a time";

const library = `
  const { loadModel } = await import(${JSON.stringify(path.join(ROOT, "dist/index.js"))});
  const m = await loadModel(${JSON.stringify(model)}, { threads: ${threads ?? "undefined"} });
  const t0 = performance.now();
  const r = await m.complete(${JSON.stringify(prompt)}, { maxNewTokens: ${n}, ignoreEos: true });
  const s = (performance.now() - t0) / 1000;
  console.log(JSON.stringify({ tps: r.completionTokens / s, backend: m.backend }));
  m.dispose();`;

function runLibrary() {
  const p = spawnSync(process.execPath, ["--input-type=module", "-e", library], { cwd: ROOT, encoding: "utf8" });
  if (p.status !== 0) throw new Error(p.stderr);
  return JSON.parse(p.stdout.trim().split("\n").at(-1));
}

function runCli() {
  const args = [path.join(ROOT, "dist/cli/main.js"), "generate", prompt, "-n", String(n), "--ignore-eos", "--stats"];
  if (model) args.push("--model", model);
  if (threads) args.push("-t", threads);
  const p = spawnSync(process.execPath, args, { cwd: ROOT, encoding: "utf8" });
  if (p.status !== 0) throw new Error(p.stderr);
  const m = /\(([\d.]+) tok\/s\)/.exec(p.stderr);
  if (!m) throw new Error(`no tok/s in: ${p.stderr}`);
  return { tps: Number(m[1]) };
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const lib = [], cli = [];
for (let i = 0; i < reps; i++) {
  const c = runCli(); cli.push(c.tps); console.log(JSON.stringify({ engine: "cli", ...c }));
  const l = runLibrary(); lib.push(l.tps); console.log(JSON.stringify({ engine: "library", ...l }));
}
console.log(`model ${model ?? "default (embedded)"}, ${n} tokens greedy, ${reps} runs each: ` +
  `CLI ${median(cli).toFixed(1)} tok/s, library ${median(lib).toFixed(1)} tok/s, library/CLI ${(median(lib) / median(cli)).toFixed(3)}`);
