// generate() on the tiny fixture: EOS, stop strings, max tokens, abort, cache reuse, prompt lookup.
import { describe, expect, test } from "vitest";
import { generate, type GenerateResult } from "../../src/generate/generate.js";
import { loadModelDir } from "../../src/models/load.js";
import { loadTokenizer } from "../../src/tokenizer/sentencepiece.js";

const dir = new URL("../fixtures/openelm/tiny-32k", import.meta.url).pathname;

async function run(it: AsyncGenerator<{ token: number; text: string }, GenerateResult>) {
  const steps: Array<{ token: number; text: string }> = [];
  let r;
  while (!(r = await it.next()).done) steps.push(r.value);
  return { steps, result: r.value };
}

describe("generate", async () => {
  const { model } = loadModelDir(dir);
  const tok = await loadTokenizer();
  const prompt = tok.encode("OpenELM is a family of open efficient language models.");
  const greedy = (await run(generate(model, tok, prompt, { maxNewTokens: 16, ignoreEos: true }))).result;

  test("max new tokens and finish reason length; streamed text equals the result text", async () => {
    const { steps, result } = await run(generate(model, tok, prompt, { maxNewTokens: 16, ignoreEos: true }));
    expect(result.tokens).toEqual(greedy.tokens);
    expect(result.finishReason).toBe("length");
    expect(steps.map((s) => s.text).join("")).toBe(result.text);
    expect(result.text).toBe(tok.decode([prompt[prompt.length - 1], ...result.tokens]).slice(tok.decode([prompt[prompt.length - 1]]).length));
  });
  test("logitBias: added to the logits before the choice; bad entries are named", async () => {
    const first = greedy.tokens[0];
    const banned = (await run(generate(model, tok, prompt, { maxNewTokens: 4, ignoreEos: true, logitBias: { [first]: -100 } }))).result;
    expect(banned.tokens[0]).not.toBe(first);
    const forced = (await run(generate(model, tok, prompt, { maxNewTokens: 2, ignoreEos: true, temperature: 0.7, seed: 3, logitBias: { 42: 100 } }))).result;
    expect(forced.tokens).toEqual([42, 42]);
    await expect(run(generate(model, tok, prompt, { logitBias: { "1.5": 1 } }))).rejects.toThrow('logitBias: key "1.5" is not a token id (expected a non-negative integer)');
    await expect(run(generate(model, tok, prompt, { logitBias: { 40000: 1 } }))).rejects.toThrow('logitBias: key "40000" is not a token id (expected an integer in [0, 31999])');
    await expect(run(generate(model, tok, prompt, { logitBias: { 7: Number.NaN } }))).rejects.toThrow("logitBias: the bias of token 7 must be a number in [-100, 100], got null");
  });

  test("a stop string ends generation and is not emitted", async () => {
    const stop = greedy.text.slice(5, 9);
    const { result } = await run(generate(model, tok, prompt, { maxNewTokens: 16, ignoreEos: true, stop: [stop] }));
    expect(result.finishReason).toBe("stop");
    expect(result.text).toBe(greedy.text.slice(0, greedy.text.indexOf(stop)));
  });
  test("an aborted signal stops at once", async () => {
    const ac = new AbortController();
    const it = generate(model, tok, prompt, { maxNewTokens: 50, ignoreEos: true, signal: ac.signal });
    await it.next(); ac.abort();
    const { result } = await run(it);
    expect(result.finishReason).toBe("abort");
    expect(result.tokens.length).toBe(1);
  });
  test("a cache holding the prompt prefix is reused, with identical output", async () => {
    const first = await run(generate(model, tok, prompt, { maxNewTokens: 4, ignoreEos: true }));
    const longer = [...prompt, ...first.result.tokens, 450, 4996];
    const fresh = (await run(generate(model, tok, longer, { maxNewTokens: 6, ignoreEos: true }))).result;
    const reused = (await run(generate(model, tok, longer, { maxNewTokens: 6, ignoreEos: true, cache: first.result.cache }))).result;
    expect(reused.tokens).toEqual(fresh.tokens);
    expect(reused.cachedPromptTokens).toBe(prompt.length + 3);
  });
  test("prompt lookup: same greedy tokens, fewer forward passes on repetitive text", async () => {
    const rep = tok.encode("one two three four five one two three four five one two three four five one two three");
    const base = (await run(generate(model, tok, rep, { maxNewTokens: 20, ignoreEos: true }))).result;
    const fast = (await run(generate(model, tok, rep, { maxNewTokens: 20, ignoreEos: true, promptLookupNumTokens: 10 }))).result;
    expect(fast.tokens).toEqual(base.tokens);
    expect(fast.forwardPasses).toBeLessThanOrEqual(base.forwardPasses);
    expect(fast.forwardPasses + fast.forwardPassesSaved).toBe(base.forwardPasses);
  });
  test("a prompt that fills the context is refused", async () => {
    await expect(run(generate(model, tok, new Array(256).fill(1), {}))).rejects.toThrow("prompt of 256 tokens does not fit the context of 256 tokens");
  });
});
