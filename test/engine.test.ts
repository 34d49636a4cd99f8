// The library entry point: loadModel (directory, hub id through a local fake hub), streaming generate
// equal to the reference greedy tokens, AbortSignal, concurrent generations, chat sessions reusing the KV cache.

import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { loadModel, type Model } from "../src/index.js";
import { defaultModelDir } from "../src/models/registry.js";
import { startFakeHub } from "./io/hub_fake_server.js";

const TINY = "test/fixtures/openelm/tiny-32k";
const expected = JSON.parse(readFileSync(join(TINY, "expected.json"), "utf8"));
const seq = expected.sequences.find((s: { name: string }) => s.name === "text_openelm");
const GREEDY: number[] = seq.greedy.tokens; // 24 argmax steps after the prompt, from the float64 reference

let model: Model;
beforeAll(async () => { model = await loadModel(TINY); });

describe("engine", () => {
  test("generate streams the reference greedy continuation", async () => {
    expect(model.encode(seq.text)).toEqual(seq.input_ids);
    const g = model.generate(seq.text, { maxNewTokens: GREEDY.length, ignoreEos: true });
    let streamed = "";
    for await (const piece of g) streamed += piece;
    const r = await g.result;
    expect(r.tokens).toEqual(GREEDY);
    expect(r.text).toBe(streamed);
    expect(seq.text + r.text).toBe(model.tokenizer.decode([...seq.input_ids, ...GREEDY]));
    expect(r).toMatchObject({ finishReason: "length", promptTokens: seq.input_ids.length, completionTokens: GREEDY.length });
  });

  test("an AbortSignal stops generation at once", async () => {
    const ac = new AbortController();
    const g = model.generate(seq.text, { maxNewTokens: 20, ignoreEos: true, signal: ac.signal });
    let n = 0;
    for await (const _ of g) if (++n === 3) ac.abort();
    const r = await g.result;
    expect(r.finishReason).toBe("abort");
    expect(r.tokens).toEqual(GREEDY.slice(0, r.tokens.length));
    expect(r.tokens.length).toBeLessThanOrEqual(4);
  });

  test("breaking out of the loop ends the generation and reports it as aborted", async () => {
    const g = model.generate(seq.text, { maxNewTokens: 20, ignoreEos: true });
    for await (const _ of g) break;
    expect((await g.result).finishReason).toBe("abort");
  });

  test("concurrent generations take turns and each gets its own greedy result", async () => {
    const prompts = ["OpenELM is a family of open efficient language models.", "Once upon a time", "The capital of France is"];
    const solo = [];
    for (const p of prompts) solo.push((await model.complete(p, { maxNewTokens: 12, ignoreEos: true })).tokens);
    const together = await Promise.all(prompts.map((p) => model.complete(p, { maxNewTokens: 12, ignoreEos: true })));
    expect(together.map((r) => r.tokens)).toEqual(solo);
    expect(solo[0]).toEqual(GREEDY.slice(0, 12));
  });

  test("chat renders the Zephyr prompt and a session reuses earlier turns' KV cache", async () => {
    const r = await model.chat([{ role: "user", content: "Hi" }], { maxNewTokens: 5 });
    expect(r.promptTokens).toBe(model.encodeChat([{ role: "user", content: "Hi" }]).length);
    const s = model.chatSession("Be brief.");
    const first = await s.send("Hello", { maxNewTokens: 6 }).result;
    expect(first.cachedPromptTokens).toBe(0);
    const second = await s.send("And then?", { maxNewTokens: 6 }).result;
    // the whole first prompt is shared with the second (the reply's re-encoding may differ in its tokens)
    expect(second.cachedPromptTokens).toBeGreaterThanOrEqual(first.promptTokens);
    expect(s.savedPromptTokens).toBe(second.cachedPromptTokens);
    expect(s.messages.map((m) => m.role)).toEqual(["system", "user", "assistant", "user", "assistant"]);
    s.reset();
    expect(s.messages).toEqual([{ role: "system", content: "Be brief." }]);
  });

  test("no name loads the embedded default model", async () => {
    const m = await loadModel();
    expect(m.name).toBe("default");
    expect(m.dir).toBe(defaultModelDir());
    const r = await m.complete("Once upon a time", { maxNewTokens: 4, ignoreEos: true });
    expect(r.completionTokens).toBe(4);
    m.dispose();
    expect(() => m.generate("x")).toThrow('model "default" was disposed');
  });

  test("names that are neither directories nor hub ids are rejected", async () => {
    await expect(loadModel("no such thing")).rejects.toThrow(
      'model "no such thing": no such directory, and not a hub id "owner/name" (e.g. apple/OpenELM-270M-Instruct)');
    await expect(loadModel(join(TINY, "config.json"))).rejects.toThrow(
      `model "${join(TINY, "config.json")}": expected a model directory (config.json + model.safetensors) or a .gguf file, got another file`);
  });
});

describe("engine with the hub", () => {
  const cache = mkdtempSync(join(tmpdir(), "openelm-engine-hub-"));
  let hub: Awaited<ReturnType<typeof startFakeHub>>;
  beforeAll(async () => {
    const files: Record<string, Uint8Array> = {};
    for (const f of ["config.json", "generation_config.json", "model.safetensors"]) files[f] = readFileSync(join(TINY, f));
    hub = await startFakeHub({ "apple/OpenELM-tiny": { sha: "1".repeat(40), files, lfs: ["model.safetensors"] } });
  });
  afterAll(async () => { await hub.close(); rmSync(cache, { recursive: true, force: true }); });

  test("loadModel(hub id) downloads once, then loads from the cache with no request", async () => {
    const hubOpt = { endpoint: hub.endpoint, cacheDir: cache, offline: false };
    const m = await loadModel("apple/OpenELM-tiny", { hub: hubOpt });
    expect(m.dir).toBe(join(cache, "models--apple--OpenELM-tiny", "snapshots", "1".repeat(40)));
    expect((await m.complete(seq.text, { maxNewTokens: 8, ignoreEos: true })).tokens).toEqual(GREEDY.slice(0, 8));
    const n = hub.requests.length;
    await loadModel("apple/OpenELM-tiny", { hub: { ...hubOpt, offline: true } });
    expect(hub.requests.length).toBe(n);
  });
});
