// One server, one base, several adapters: a request's model "MODEL_ID:NAME" picks the adapter, applied unmerged on
// the shared base weights. Answers must equal the library's greedy output with that adapter, also when requests for
// different adapters run at once (they share the base's work buffers).
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import OpenAI from "openai";
import { loadModel, Model } from "../../src/engine.js";
import { openAdapter } from "../../src/models/adapter.js";
import { createOpenAIServer, type OpenAIServer } from "../../src/serve/server.js";

const TINY = "test/fixtures/openelm/tiny-32k";
const ADAPTERS = "test/fixtures/openelm-train/tiny-32k";
const ID = "tiny";
const PROMPT = "Once upon a time";
const N = 6;

let base: Model;
let srv: OpenAIServer;
let client: OpenAI;
const views = new Map<string, Model>();

beforeAll(async () => {
  base = await loadModel(TINY);
  for (const name of ["lora", "dora"])
    views.set(name, new Model(`${ID}:${name}`, TINY, openAdapter(base.network, `${ADAPTERS}/${name}-adapter`, name), base.tokenizer, base.chatTemplate));
  srv = createOpenAIServer(base, { modelId: ID, parallel: 3, adapters: views });
  const addr = await srv.listen(0, "127.0.0.1");
  client = new OpenAI({ baseURL: `http://127.0.0.1:${addr.port}/v1`, apiKey: "unused", maxRetries: 0 });
});
afterAll(async () => { await srv.drain(); });

describe("server with adapters", () => {
  test("lists base:adapter ids; each request runs on its adapter, also concurrently", async () => {
    expect((await client.models.list()).data.map((m) => m.id)).toEqual([ID, `${ID}:lora`, `${ID}:dora`]);
    // Library answers from separately loaded models (the adapter given at load time).
    const want: Record<string, string> = {};
    for (const id of [ID, `${ID}:lora`, `${ID}:dora`]) {
      const adapter = id.includes(":") ? `${ADAPTERS}/${id.split(":")[1]}-adapter` : undefined;
      const m = await loadModel(TINY, { adapter });
      want[id] = (await m.complete(PROMPT, { maxNewTokens: N, temperature: 0 })).text;
    }
    expect(new Set(Object.values(want)).size).toBe(3); // the adapters change the greedy text
    const got = await Promise.all([ID, `${ID}:lora`, `${ID}:dora`].map(async (id) => {
      const r = await client.completions.create({ model: id, prompt: PROMPT, max_tokens: N, temperature: 0 });
      expect(r.model).toBe(id);
      return [id, r.choices[0].text] as const;
    }));
    expect(Object.fromEntries(got)).toEqual(want);
    await expect(client.completions.create({ model: `${ID}:nope`, prompt: PROMPT, max_tokens: 1 })).rejects.toMatchObject({ status: 404 });
  });
});
