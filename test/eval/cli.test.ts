// openelm eval / openelm perplexity end to end through the built CLI (dist/cli/main.js) on tiny-32k.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, test } from "vitest";
import { runCli } from "../cli/run.js";
import { DATA_DIR, expected, MODEL_DIR } from "./fixture.js";

const TASKS = "arc_easy,arc_challenge,boolq,hellaswag,piqa,winogrande,truthfulqa_mc2";

describe("openelm eval", () => {
  test(`--tasks ${TASKS} --limit 2: table, JSON, samples with lm-eval's log-likelihoods`, async () => {
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "openelm-eval-")), "results.json");
    const r = await runCli(["eval", "--model", MODEL_DIR, "--tasks", TASKS, "--limit", "2", "--data-dir", DATA_DIR,
      "--output", out, "--log-samples", "--no-progress"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("|Tasks         |Version|Filter|n-shot|Metric  | |Value | |Stderr|");
    expect(r.stdout).toMatch(/\|arc_easy +\|1\.0 +\|none +\|0 +\|acc +\|↑\|\d\.\d{4}\|±\|\d\.\d{4}\|/);
    expect(r.stdout).toMatch(/forward tokens \d+, saved by context sharing \d+ of \d+/);
    const json = JSON.parse(fs.readFileSync(out, "utf8"));
    expect(Object.keys(json.results)).toEqual(TASKS.split(","));
    expect(json.results.arc_easy.samples).toBe(2);
    expect(json.config.max_length).toBe(256);
    for (const name of TASKS.split(",")) {
      const v = expected.variants.find((x: any) => x.task === name && x.variant === "0-shot");
      json.samples[name].forEach((s: any, i: number) => {
        const e = v.docs[i];
        expect(s.doc_id).toBe(e.doc_index);
        s.arguments.forEach(([ctx, cont]: [string, string], j: number) => {
          expect(ctx).toBe(e.requests[j].context);
          expect(cont).toBe(e.requests[j].continuation);
          expect(Math.abs(s.filtered_resps[j][0] - e.requests[j].loglikelihood)).toBeLessThan(1e-3);
          expect(s.requests[j].continuation_ids).toEqual(e.requests[j].continuation_ids);
        });
      });
    }
  }, 120_000);

  test("--docs 25 --reference-output: the fixture's schema (TruthfulQA-MC2 edge document)", async () => {
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "openelm-eval-")), "ours.json");
    const r = await runCli(["eval", "--model", MODEL_DIR, "--tasks", "truthfulqa_mc2", "--docs", "25", "--data-dir", DATA_DIR,
      "--reference-output", out, "--no-progress"]);
    expect(r.code).toBe(0);
    const ours = JSON.parse(fs.readFileSync(out, "utf8"));
    const e = expected.variants.find((x: any) => x.variant === "0-shot-edge").docs[0];
    expect(ours.format).toBe("openelm-eval-reference/1");
    const d = ours.variants[0].docs[0];
    expect(d.doc_index).toBe(25);
    expect(Math.abs(d.mc2 - e.mc2)).toBeLessThan(1e-3);
    d.requests.forEach((q: any, j: number) => {
      expect(q.continuation_ids).toEqual(e.requests[j].continuation_ids);
      expect(Math.abs(q.loglikelihood - e.requests[j].loglikelihood)).toBeLessThan(1e-3);
    });
  }, 60_000);

  test("unknown task: one line, exit 1", async () => {
    const r = await runCli(["eval", "--model", MODEL_DIR, "--tasks", "arc_easy,nope", "--data-dir", DATA_DIR]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^openelm: InputError: unknown task "nope"; known tasks: arc_challenge, arc_easy, .*winogrande\n$/);
  });

  test("missing data file: one line, exit 1", async () => {
    const r = await runCli(["eval", "--model", MODEL_DIR, "--tasks", "piqa", "--data-dir", "/nonexistent"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("openelm: DataError: piqa: data file not found: /nonexistent/piqa/valid.jsonl\n");
  });
});

describe("openelm perplexity", () => {
  test("FILE --max-length 256 --json matches lm-eval's rolling windows", async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "openelm-ppl-")), "text.txt");
    fs.writeFileSync(file, expected.perplexity.text);
    const r = await runCli(["perplexity", "--model", MODEL_DIR, file, "--max-length", "256", "--json"]);
    expect(r.code).toBe(0);
    const got = JSON.parse(r.stdout), e = expected.perplexity.lm_eval_dc90fec;
    expect(got.tokens).toBe(e.token_list_len);
    expect(got.windows).toBe(e.windows.length);
    for (const k of ["word_perplexity", "byte_perplexity", "bits_per_byte"]) expect(Math.abs(got[k] / e[k] - 1)).toBeLessThan(1e-4);
  }, 120_000);
});
