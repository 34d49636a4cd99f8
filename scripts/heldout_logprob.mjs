#!/usr/bin/env node
// Held-out completion log-prob of fine-tuned models: every example of the SFT data files given (any format
// `openelm finetune --data` reads) becomes one `openelm score --jsonl` line, {"messages": <the turns before the
// last assistant reply>, "completion": <that reply>}, scored by each model; prints the mean summed log-prob a
// reply, the mean log-prob a token, and the share of replies greedy decoding would reproduce exactly.
//
//   node scripts/heldout_logprob.mjs --data held.jsonl [--data more.jsonl] \
//     --model base=default --model lora=default,/tmp/lora/adapter --model full=/tmp/full/checkpoint [--json]
//
// A model is NAME=MODEL[,ADAPTER_DIR] (MODEL as --model takes it: a directory, a .gguf, default, default-instruct).
//
// With --pairs FILE (preference pairs, any format `--method dpo` reads) instead of --data, each pair's chosen and
// rejected replies are scored, and the table gives per model the preference accuracy (log π(chosen) > log
// π(rejected)) and, against the model named by --reference, DPO's reward accuracy ((log π(c) − log π_ref(c)) >
// (log π(r) − log π_ref(r))) and mean reward margin (β = --beta, 0.1 by default), as TRL logs them.

import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { readPreferenceFile, readSftFile } from "../dist/train/sft_data.js";

const cli = fileURLToPath(new URL("../dist/cli/main.js", import.meta.url));
const args = process.argv.slice(2);
const data = [], pairs = [], models = [];
let json = false, reference, beta = 0.1;
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--data") data.push(args[++i]);
  else if (args[i] === "--model") {
    const [name, spec] = (args[++i] ?? "").split("=");
    if (!spec) throw new Error(`--model ${args[i]}: expected NAME=MODEL[,ADAPTER_DIR]`);
    const [model, adapter] = spec.split(",");
    models.push({ name, model, adapter });
  } else if (args[i] === "--pairs") pairs.push(args[++i]);
  else if (args[i] === "--reference") reference = args[++i];
  else if (args[i] === "--beta") beta = Number(args[++i]);
  else if (args[i] === "--json") json = true;
  else throw new Error(`unknown argument ${args[i]}`);
}
if (!data.length === !pairs.length || !models.length) throw new Error("give --data FILE or --pairs FILE, and --model NAME=MODEL[,ADAPTER] (each at least once)");
if (reference !== undefined && !models.some((m) => m.name === reference)) throw new Error(`--reference ${reference}: not one of the --model names`);

const lines = [];
for (const f of data)
  for (const { messages } of readSftFile(f)) {
    const last = messages.length - 1;
    if (messages[last].role !== "assistant") continue;
    lines.push(JSON.stringify({ messages: messages.slice(0, last), completion: messages[last].content }));
  }

function score(m) {
  const argv = [cli, "score", "--jsonl", "--model", m.model, ...(m.adapter ? ["--adapter", m.adapter] : [])];
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, argv, { stdio: ["pipe", "pipe", "inherit"] });
    let out = "";
    p.stdout.on("data", (d) => (out += d));
    p.on("close", (code) => code === 0 ? resolve(out.trim().split("\n").map((l) => JSON.parse(l))) : reject(new Error(`${m.name}: score exited ${code}`)));
    p.stdin.end(lines.join("\n") + "\n");
  });
}

if (pairs.length) {
  // one line a reply: chosen then rejected for each pair
  for (const f of pairs)
    for (const p of readPreferenceFile(f))
      for (const completion of [p.chosen, p.rejected]) lines.push(JSON.stringify({ messages: p.prompt, completion }));
  const scores = new Map();
  for (const m of models) scores.set(m.name, (await score(m)).map((x) => x.logprob));
  const ref = reference !== undefined ? scores.get(reference) : undefined, n = lines.length / 2;
  const rows = models.map((m) => {
    const lp = scores.get(m.name);
    let pref = 0, acc = 0, margin = 0;
    for (let i = 0; i < n; i++) {
      const c = lp[2 * i], r = lp[2 * i + 1];
      if (c > r) pref++;
      if (ref) {
        const d = beta * ((c - ref[2 * i]) - (r - ref[2 * i + 1]));
        if (d > 0) acc++;
        margin += d;
      }
    }
    return { name: m.name, model: m.model, adapter: m.adapter ?? null, pairs: n, preference_accuracy: pref / n,
      ...(ref ? { reward_accuracy: acc / n, reward_margin: margin / n } : {}) };
  });
  if (json) process.stdout.write(JSON.stringify(rows, null, 1) + "\n");
  else {
    process.stdout.write(`${n} held-out preference pairs (${pairs.join(", ")})${ref ? `; rewards against ${reference}, β ${beta}` : ""}\n\n| model | log π(chosen) > log π(rejected) |${ref ? " reward accuracy | mean reward margin |" : ""}\n|---|---:|${ref ? "---:|---:|" : ""}\n`);
    for (const r of rows)
      process.stdout.write(`| ${r.name} | ${(100 * r.preference_accuracy).toFixed(1)} % |${ref ? ` ${(100 * r.reward_accuracy).toFixed(1)} % | ${r.reward_margin.toFixed(4)} |` : ""}\n`);
  }
  process.exit(0);
}

const rows = [];
for (const m of models) {
  const r = await score(m);
  const lp = r.reduce((a, x) => a + x.logprob, 0), n = r.reduce((a, x) => a + x.tokens, 0);
  rows.push({ name: m.name, model: m.model, adapter: m.adapter ?? null, examples: r.length, tokens: n,
    mean_logprob: lp / r.length, logprob_per_token: lp / n, greedy_exact: r.filter((x) => x.greedy).length / r.length });
}
if (json) process.stdout.write(JSON.stringify(rows, null, 1) + "\n");
else {
  process.stdout.write(`${lines.length} held-out replies (${data.join(", ")})\n\n| model | mean log-prob a reply | log-prob a token | token perplexity | greedy-exact replies |\n|---|---:|---:|---:|---:|\n`);
  for (const r of rows)
    process.stdout.write(`| ${r.name} | ${r.mean_logprob.toFixed(2)} | ${r.logprob_per_token.toFixed(3)} | ${Math.exp(-r.logprob_per_token).toFixed(1)} | ${(100 * r.greedy_exact).toFixed(1)} % |\n`);
}
