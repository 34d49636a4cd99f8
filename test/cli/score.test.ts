// openelm score --jsonl against the float64 reference log-probs of test/fixtures/openelm/tiny-32k: a text split into
// prompt and completion, raw ids (greedy and not), and a chat prompt, in one run, answered in input order.
import { expect, test } from "vitest";
import * as fs from "node:fs";
import { encodeChatPrompt } from "../../src/tokenizer/chat_template.js";
import { loadTokenizer } from "../../src/tokenizer/sentencepiece.js";
import { FIXTURE, runCli } from "./run.js";

const MODEL = FIXTURE("tiny-32k");
const fx = JSON.parse(fs.readFileSync(`${MODEL}/expected.json`, "utf8"));
const seq = fx.sequences.find((s: { name: string }) => s.name === "text_openelm");
const tol = fx.tolerances.logprob_abs as number;

test("score: summed log-probs, token counts and greedy flags match the reference", async () => {
  const tok = await loadTokenizer();
  const ids: number[] = seq.input_ids, T = ids.length, last = T - 1;
  expect(tok.encode(seq.text)).toEqual(ids);
  const prompt = "OpenELM is a family of", completion = seq.text.slice(prompt.length);
  const k = tok.encode(prompt).length; // the prompt's tokens (with BOS) are the first k of the sequence
  expect(ids.slice(0, k)).toEqual(tok.encode(prompt));
  let lp = 0, greedy = true;
  for (let t = k - 1; t < T - 1; t++) { lp += seq.next_token_logprob[t]; greedy &&= seq.argmax[t] === ids[t + 1]; }
  const lse = seq.logsumexp[last], top = seq.top5_ids[last], topL = seq.top5_logits[last];
  const chatText = "<|user|>\nWhat is OpenELM?</s>\n<|assistant|>\n";
  const chatCtx = encodeChatPrompt(tok, chatText), chatAll = encodeChatPrompt(tok, chatText + "A model.");
  const lines = [
    { prompt, completion },
    { prompt_ids: ids, completion_ids: [top[0]] },
    { prompt_ids: ids, completion_ids: [top[1]] },
    { prompt_ids: ids, completion_ids: seq.greedy.tokens.slice(0, 6) },
    { messages: [{ role: "user", content: "What is OpenELM?" }], completion: "A model." },
    { prompt_ids: chatCtx, completion_ids: chatAll.slice(chatCtx.length) },
  ];
  const r = await runCli(["score", "-m", MODEL, "--jsonl", "--backend", "wasm", "-t", "1"], lines.map((l) => JSON.stringify(l)).join("\n") + "\n");
  expect(r.stderr).toBe("");
  const out = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
  expect(out.length).toBe(lines.length);
  expect(out[0].tokens).toBe(T - k);
  expect(Math.abs(out[0].logprob - lp)).toBeLessThan(tol * (T - k));
  expect(out[0].greedy).toBe(greedy);
  expect(out[1]).toMatchObject({ tokens: 1, greedy: true });
  expect(Math.abs(out[1].logprob - (topL[0] - lse))).toBeLessThan(tol);
  expect(out[2]).toMatchObject({ tokens: 1, greedy: false });
  expect(Math.abs(out[2].logprob - (topL[1] - lse))).toBeLessThan(tol);
  expect(out[3]).toMatchObject({ tokens: 6, greedy: true });
  expect(out[4].tokens).toBe(chatAll.length - chatCtx.length);
  expect(out[4].logprob).toBeCloseTo(out[5].logprob, 5); // the chat prompt is the Zephyr rendering
});

test("score: a bad line names stdin:line and the field, exit 1", async () => {
  const r = await runCli(["score", "-m", MODEL, "--jsonl", "--backend", "ref"], '{"prompt": "a", "completion": " b"}\n{"prompt": "a"}\n');
  expect(r.code).toBe(1);
  expect(r.stdout.trim().split("\n").length).toBe(1);
  expect(r.stderr).toBe('openelm: InputError: stdin:2: "completion" must be a non-empty string\n');
});
