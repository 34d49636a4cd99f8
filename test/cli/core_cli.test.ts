// The core subcommands end to end: logits and greedy through the CLI match the fixtures; info counts
// match the published parameter counts; tokenize/detokenize; bad arguments give one line and exit non-zero.
import { describe, expect, test } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { FIXTURE, runCli } from "./run.js";

describe("openelm logits / generate on the fixtures", () => {
  for (const fx of ["tiny-32k", "tiny-32k-bf16", "tiny-small-vocab"]) {
    test(`${fx}: logits rows and greedy continuation`, async () => {
      const exp = JSON.parse(fs.readFileSync(`${FIXTURE(fx)}/expected.json`, "utf-8"));
      const s = exp.sequences.find((q: { name: string }) => q.name === "len7") ?? exp.sequences[1];
      const r = await runCli(["logits", "--model", FIXTURE(fx), "--tokens", s.input_ids.join(","), "--positions", s.logits_rows.positions.join(",")]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      const out = JSON.parse(r.stdout);
      expect(out.positions).toEqual(s.logits_rows.positions);
      out.logits.forEach((row: number[], k: number) => {
        const e = s.logits_rows.values[k];
        expect(row.length).toBe(e.length);
        expect(Math.max(...row.map((v, j) => Math.abs(v - e[j])))).toBeLessThan(exp.tolerances.logits_abs);
      });
      const g = await runCli(["generate", "--model", FIXTURE(fx), "--tokens", s.input_ids.join(","), "-n", String(s.greedy.steps), "--ignore-eos", "--json"]);
      expect(g.code).toBe(0);
      expect(JSON.parse(g.stdout).tokens).toEqual(s.greedy.tokens);
    });
  }
  test("--positions last and all", async () => {
    const r = JSON.parse((await runCli(["logits", "--model", FIXTURE("tiny-small-vocab"), "--tokens", "1,5,7", "--positions", "last"])).stdout);
    expect(r.positions).toEqual([2]);
    expect(r.logits[0].length).toBe(509);
    const a = JSON.parse((await runCli(["logits", "--model", FIXTURE("tiny-small-vocab"), "--tokens", "1,5,7"])).stdout);
    expect(a.positions).toEqual([0, 1, 2]);
  });
  test("prompt lookup gives the identical greedy output with fewer forward passes", async () => {
    const prompt = "the cat sat on the mat and the cat sat on the mat and the cat sat on the";
    const base = JSON.parse((await runCli(["generate", prompt, "--model", FIXTURE("tiny-32k"), "-n", "24", "--ignore-eos", "--json"])).stdout);
    const fast = JSON.parse((await runCli(["generate", prompt, "--model", FIXTURE("tiny-32k"), "-n", "24", "--ignore-eos", "--json", "--prompt-lookup", "8"])).stdout);
    expect(fast.tokens).toEqual(base.tokens);
    expect(fast.forward_passes + fast.forward_passes_saved).toBe(base.forward_passes);
  });
  test("generate with the embedded default model streams text", async () => {
    const r = await runCli(["generate", "Once upon a time", "-n", "8"]);
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBeGreaterThan(1);
  });
  test("seeded sampling is reproducible and differs across seeds", async () => {
    const run = async (seed: number) => JSON.parse((await runCli(["generate", "Hello", "--model", FIXTURE("tiny-32k"), "-n", "12", "--temperature", "1",
      "--top-k", "50", "--top-p", "0.95", "--seed", String(seed), "--ignore-eos", "--json"])).stdout).tokens;
    const a = await run(7);
    expect(a.length).toBe(12);
    expect(await run(7)).toEqual(a);
    expect(await run(8)).not.toEqual(a);
  });
});

describe("openelm info", () => {
  const published = JSON.parse(fs.readFileSync(new URL("../fixtures/configs/published-derived.json", import.meta.url), "utf-8"));
  for (const name of Object.keys(published)) {
    test(`${name}: parameter count and per-layer sizes`, async () => {
      const r = await runCli(["info", "--config", name, "--json"]);
      expect(r.code).toBe(0);
      const info = JSON.parse(r.stdout);
      expect(info.parameter_count).toBe(published[name].parameter_count);
      expect(info.layers.map((l: { query_heads: number }) => l.query_heads)).toEqual(published[name].num_query_heads);
      expect(info.layers.map((l: { kv_heads: number }) => l.kv_heads)).toEqual(published[name].num_kv_heads);
      expect(info.layers.map((l: { ffn_dim: number }) => l.ffn_dim)).toEqual(published[name].ffn_dims);
    });
  }
  test("OpenELM-270M human-readable output names the count", async () => {
    expect((await runCli(["info", "--config", "OpenELM-270M"])).stdout).toContain("271,527,168");
  });
  test("info --model reads a checkpoint", async () => {
    const info = JSON.parse((await runCli(["info", "--model", FIXTURE("tiny-32k-bf16"), "--json"])).stdout);
    expect(info.parameter_count).toBe(4994880);
    expect(info.dtype).toBe("bf16");
  });
});

describe("openelm tokenize / detokenize", () => {
  test("text, --bos, --jsonl", async () => {
    expect((await runCli(["tokenize", "Hello world"])).stdout).toBe("[15043,3186]\n");
    expect((await runCli(["tokenize", "Hello world", "--bos"])).stdout).toBe("[1,15043,3186]\n");
    expect((await runCli(["tokenize", "--jsonl"], '"Hello world"\n"<s>"\n')).stdout).toBe("[15043,3186]\n[529,29879,29958]\n");
    expect((await runCli(["detokenize", "1,15043,3186"])).stdout).toBe("Hello world\n");
    expect((await runCli(["detokenize", "--jsonl"], "[15043,3186]\n[1,2]\n")).stdout).toBe('"Hello world"\n""\n');
  });
});

describe("openelm init", () => {
  test("writes a loadable checkpoint in the published layout (bf16)", async () => {
    const cfg = path.join(os.tmpdir(), `oe-cfg-${process.pid}.json`);
    const src = JSON.parse(fs.readFileSync(`${FIXTURE("tiny-small-vocab")}/config.json`, "utf-8"));
    fs.writeFileSync(cfg, JSON.stringify(src));
    const out = fs.mkdtempSync(path.join(os.tmpdir(), "oe-init-"));
    const r = await runCli(["init", "--config", cfg, "--out", out, "--dtype", "bf16", "--seed", "3"]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain("313,160 parameters");
    const info = JSON.parse((await runCli(["info", "--model", out, "--json"])).stdout);
    expect(info.dtype).toBe("bf16");
    const g = await runCli(["generate", "--model", out, "--tokens", "1,2,3", "-n", "3", "--json", "--ignore-eos"]);
    expect(JSON.parse(g.stdout).tokens.length).toBe(3);
    fs.rmSync(out, { recursive: true });
  });
});

describe("bad arguments: one line, non-zero exit, no stack trace", () => {
  const cases: Array<[string[], number, string]> = [
    [["generate", "-n", "abc"], 2, "argument 'abc' is invalid. expected an integer in [0, 2147483647], got \"abc\""],
    [["generate", "--temperature", "-1"], 2, "argument '-1' is invalid. -1 is out of range; expected a number in [0, 2] (0 = greedy)"],
    [["generate", "--tokens", "1,x"], 2, "expected comma-separated non-negative integer token ids"],
    [["generate", "--model", "/nonexistent/dir"], 1, 'InputError: model "/nonexistent/dir": no such directory, and not a hub id'],
    [["logits", "--tokens", "1,99999", "--model", "TINY"], 1, "InputError: token id 99999 at position 1 is out of range: the vocabulary has ids 0 … 31999"],
    [["info", "--model", "TINY", "--config", "OpenELM-270M"], 2, "give --model or --config, not both"],
    [["info", "--config", "OpenELM-9B"], 1, "--config OpenELM-9B: not a published config"],
    [["frobnicate"], 2, "unknown command 'frobnicate'"],
  ];
  for (const [args, code, msg] of cases) {
    test(args.join(" "), async () => {
      const r = await runCli(args.map((a) => (a === "TINY" ? FIXTURE("tiny-32k") : a)));
      expect(r.code).toBe(code);
      expect(r.stderr).toContain(msg);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(r.stderr.trim().split("\n").length).toBeLessThanOrEqual(2);
    });
  }
  test("a prompt longer than the context", async () => {
    const ids = [1, ...Array(300).fill(450)].join(",");
    const r = await runCli(["generate", "--model", FIXTURE("tiny-32k"), "--tokens", ids]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("InputError: prompt of 301 tokens does not fit the context of 256 tokens (max_context_length)");
  });
  test("--help for every subcommand", async () => {
    for (const c of ["generate", "logits", "tokenize", "detokenize", "init", "info"]) {
      const r = await runCli([c, "--help"]);
      expect(r.code, c).toBe(0);
      expect(r.stdout).toContain("Usage: openelm " + c);
    }
  });
});
