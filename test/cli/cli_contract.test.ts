// The CLI's shared contract, through the built CLI (dist/): every model-taking command takes --model the same
// way (directory, .gguf file, or the embedded model when omitted); usage errors exit 2 and bad input 1;
// generate --echo / --stop / --json, perplexity's text output, quantize's re-quantize guard, tokenize --jsonl.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { loadTokenizer } from "../../src/tokenizer/sentencepiece.js";
import { FIXTURE, runCli } from "./run.js";

const GGUF_Q8 = new URL("../fixtures/gguf/tiny-32k-q8_0.gguf", import.meta.url).pathname;
const DEFAULT_MODEL = new URL("../../assets/models/default", import.meta.url).pathname;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "openelm-cli-contract-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const json = async (args: string[]) => {
  const r = await runCli(args);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout);
};

describe("--model: a directory, a .gguf file, or the embedded model", () => {
  test("info reads a .gguf file's header (not FILE.gguf/config.json)", async () => {
    const info = await json(["info", "--model", GGUF_Q8, "--json"]);
    expect(info.parameter_count).toBe(4994880); // tiny-32k, as info --model DIR reports it (core_cli.test.ts)
    expect(info.dtype).toBe("q8_0+f32");
    expect(info.max_context_length).toBe(256);
  });
  test("info, bench and quantize without --model use the embedded model", async () => {
    const info = await json(["info", "--json"]);
    expect(info).toEqual(await json(["info", "--model", DEFAULT_MODEL, "--json"]));
    expect(info.parameter_count).toBe(7861056); // assets/models/default/README.md: 7.9M parameters
    const bench = await json(["bench", "-p", "4", "-n", "2", "-r", "1", "-t", "1", "--json"]);
    expect(bench.results.map((r: { model: string; test: string }) => `${r.model} ${r.test}`)).toEqual(["default pp4", "default tg2"]);
    const q = await runCli(["quantize", "--out", tmp, "--type", "q8_0"]);
    expect(q.code).toBe(0);
    expect(q.stdout).toMatch(new RegExp(`^wrote ${tmp}/default-q8_0\\.gguf: `));
    expect((await json(["info", "--model", path.join(tmp, "default-q8_0.gguf"), "--json"])).parameter_count).toBe(7861056);
  }, 60_000);
  test("a missing .gguf file is named as such", async () => {
    const r = await runCli(["info", "--model", "/nonexistent/x.gguf"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("openelm: InputError: --model /nonexistent/x.gguf: no such GGUF file\n");
  });
});

describe("exit codes: 2 for usage errors, 1 for bad input", () => {
  const usage: Array<[string[], string]> = [
    [["generate", "Hello", "--tokens", "1,2"], "error: give a PROMPT or --tokens, not both\n"],
    [["eval", "--tasks", "arc_easy", "--log-samples"], "error: --log-samples needs --output FILE\n"],
    [["info", "stray"], "error: too many arguments for 'info'. Expected 0 arguments but got 1.\n"],
    [["logits", "--tokens", "1", "--context-length", "abc"], "error: option '--context-length <n>' argument 'abc' is invalid. expected an integer ≥ 1, got \"abc\"\n"],
  ];
  for (const [args, msg] of usage) {
    test(`usage: ${args.join(" ")}`, async () => {
      const r = await runCli(args.map((a) => (a === "TINY" ? FIXTURE("tiny-32k") : a)));
      expect(r.stderr).toBe(msg);
      expect(r.code).toBe(2);
    });
  }
  test("a model and context past the backend's memory: one line naming the limit, exit 1", async () => {
    const r = await runCli(["generate", "Hi", "--model", FIXTURE("tiny-32k"), "-n", "1", "--context-length", "50000000"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^openelm: OutOfMemoryError: wasm backend: out of memory: needs \d+\.\d\d GiB, a 32-bit WebAssembly memory holds 4 GiB \(.*shorter context.*\)\n$/);
  });
  test("bad input: tokenize --jsonl with a raw text line names the line and the expected form", async () => {
    const r = await runCli(["tokenize", "--jsonl"], '"fine"\nHello world\n');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('openelm: InputError: <stdin>:2: expected one JSON string per line (--jsonl), e.g. "Hello world" with the quotes; ' +
      'got "Hello world", which is not JSON\n');
    const n = await runCli(["tokenize", "--jsonl"], "42\n");
    expect(n.stderr).toContain("<stdin>:1: expected one JSON string per line (--jsonl), e.g. \"Hello world\" with the quotes; got a JSON number\n");
  });
});

describe("generate", () => {
  const TINY = FIXTURE("tiny-32k");
  test("--tokens with --echo prints the decoded prompt before the continuation", async () => {
    const plain = await runCli(["generate", "--model", TINY, "--tokens", "1,450,4996", "-n", "3", "--ignore-eos"]);
    const echo = await runCli(["generate", "--model", TINY, "--tokens", "1,450,4996", "-n", "3", "--ignore-eos", "--echo"]);
    expect(echo.code).toBe(0);
    expect(echo.stdout).toBe("The quick" + plain.stdout); // detokenize 1,450,4996
  });
  test("--logit-bias: +100 forces a token, -100 bans one; bad pairs are named", async () => {
    const base = ["generate", "--model", TINY, "--tokens", "1,450,4996", "-n", "3", "--ignore-eos", "--json"];
    expect((await json([...base, "--logit-bias", "9=100"])).tokens).toEqual([9, 9, 9]);
    const plain = (await json(base)).tokens;
    const banned = (await json([...base, "--logit-bias", `${plain[0]}=-100`, "--logit-bias", `${plain[1]}=-100`])).tokens;
    expect(banned.includes(plain[0]) || banned.includes(plain[1])).toBe(false);
    const bad = await runCli([...base, "--logit-bias", "9=200"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("the bias of token 9 must be a number in [-100, 100], got 200");
    const far = await runCli([...base, "--logit-bias", "99999=1"]);
    expect(far.code).not.toBe(0);
    expect(far.stderr).toContain('--logit-bias: key "99999" is not a token id (expected an integer in [0, 31999])');
  });

  test("--json --stop: the stop string is in neither text nor tokens", async () => {
    const tok = await loadTokenizer();
    const args = ["generate", "Once upon a time", "--model", TINY, "-n", "16", "--ignore-eos", "--json"];
    const full = await json(args);
    const ids: number[] = full.tokens;
    // text of the first n generated tokens, as the streaming decoder joins them after the prompt's last token
    const anchor = tok.encode("Once upon a time").at(-1)!;
    const prefix = (n: number) => tok.decode([anchor, ...ids.slice(0, n)]).length - tok.decode([anchor]).length;
    const firstAt = (s: string, at: number) => s.length > 0 && full.text.indexOf(s) === at;
    // k: tokens k and k+1 make a stop string found first right at token k's start, and so does its tail from
    // one character into token k (a stop string starting inside a token)
    const k = [...Array(ids.length - 2).keys()].find((i) => i >= 2 && prefix(i + 1) - prefix(i) >= 2 &&
      firstAt(full.text.slice(prefix(i), prefix(i + 2)), prefix(i)) && firstAt(full.text.slice(prefix(i) + 1, prefix(i + 2)), prefix(i) + 1))!;
    expect(k).toBeDefined();
    const r = await json([...args, "--stop", full.text.slice(prefix(k), prefix(k + 2))]);
    expect(r.finish_reason).toBe("stop");
    expect(r.text).toBe(full.text.slice(0, prefix(k)));
    expect(r.tokens).toEqual(ids.slice(0, k));
    expect(tok.decode([anchor, ...r.tokens]).slice(tok.decode([anchor]).length)).toBe(r.text);
    // starting inside token k: the text keeps what came before the stop string, the tokens end before token k
    const m = await json([...args, "--stop", full.text.slice(prefix(k) + 1, prefix(k + 2))]);
    expect(m.text).toBe(full.text.slice(0, prefix(k) + 1));
    expect(m.tokens).toEqual(ids.slice(0, k));
  });
});

test("perplexity prints token perplexity without --json too", async () => {
  const file = path.join(tmp, "text.txt");
  fs.writeFileSync(file, "It was the best of times, it was the worst of times.\n");
  const j = await json(["perplexity", "--model", FIXTURE("tiny-32k"), file, "--json"]);
  const r = await runCli(["perplexity", "--model", FIXTURE("tiny-32k"), file]);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain(`\ntoken_perplexity ${j.token_perplexity.toPrecision(10)}\n`);
});

test("quantize refuses an already quantized GGUF unless --allow-requantize", async () => {
  const out = path.join(tmp, "re.gguf");
  const r = await runCli(["quantize", "--model", GGUF_Q8, "--out", out, "--type", "q4_0"]);
  expect(r.code).toBe(1);
  expect(r.stderr).toBe(`openelm: InputError: ${GGUF_Q8}: already quantized (Q8_0 weights); quantizing again compounds the error. ` +
    "Quantize the original f32/f16/bf16 model instead, or pass --allow-requantize\n");
  expect(fs.existsSync(out)).toBe(false);
  const ok = await runCli(["quantize", "--model", GGUF_Q8, "--out", out, "--type", "q4_0", "--allow-requantize"]);
  expect(ok.code).toBe(0);
  expect((await json(["info", "--model", out, "--json"])).dtype).toContain("q4_0");
});
