// The web app in real Chromium (headless, Debian's package): the engine in a Web Worker with WebAssembly
// kernel threads over shared memory, served by `openelm web` with COOP/COEP. Greedy tokens must equal the
// library's on the same model (and the float64 reference for tiny-32k, fetched as a hub id); a GGUF picked
// through the file input loads; Stop aborts during the prompt's prefill; a second visit works with the
// server gone (service worker + Cache Storage); bad input shows one clear message and the page stays usable;
// default-instruct (the default model with its shipped adapter, unmerged) gives the CLI's tokens and chat replies.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { BrowserContext, Page } from "playwright-core";
import { loadModel } from "../../src/engine.js";
import { createWasmBackend } from "../../src/kernels/wasm/index.js";
import { launchChromium, startWebServer, SWIFTSHADER_WEBGPU } from "./chromium.mjs";
import { runCli } from "../cli/run.js";

const PROMPT = "Once upon a time";
const N = 16;
const TINY = "test/fixtures/openelm/tiny-32k";
const GGUF = "test/fixtures/gguf/tiny-32k-q8_0.gguf";

/** Greedy tokens of the library (wasm kernels, as `openelm generate`) on a model; the text in `text`. */
async function libraryGreedy(model: string | undefined, prompt: string, n: number, text?: { value: string }): Promise<number[]> {
  const backend = await createWasmBackend({ threads: 1 });
  const m = await loadModel(model, { backend });
  try {
    const c = await m.complete(prompt, { maxNewTokens: n });
    if (text) text.value = c.text;
    return c.tokens;
  } finally { m.dispose(); }
}

interface Out { state?: string; error: string; text: string; tokens?: string; decodeTps?: string; backend?: string; finishReason?: string; adapter?: string }

async function waitEnd(page: Page, timeout = 30_000): Promise<Out> {
  await page.waitForFunction(() => ["done", "error"].includes(document.body.dataset.state ?? ""), null, { timeout });
  return page.evaluate(() => {
    const o = document.getElementById("output")!;
    return { state: document.body.dataset.state, error: document.getElementById("error")!.textContent ?? "", text: o.textContent ?? "", ...o.dataset };
  });
}

const q = (p: Record<string, string | number>) => "?" + new URLSearchParams(Object.entries(p).map(([k, v]) => [k, String(v)])).toString();

let server: Awaited<ReturnType<typeof startWebServer>>;
let ctx: BrowserContext;
let expectedDefault: number[];
const expectedText = { value: "" };
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "openelm-web-"));

beforeAll(async () => {
  [server, ctx, expectedDefault] = await Promise.all([startWebServer(), launchChromium(), libraryGreedy(undefined, PROMPT, N, expectedText)]);
}, 60_000);

afterAll(async () => {
  await ctx?.close();
  await server?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe("web app in Chromium", () => {
  test("the default model, by URL parameters: greedy tokens equal the library's; speed and backend reported", async () => {
    const page = await ctx.newPage();
    await page.goto(server.url + q({ prompt: PROMPT, max_new_tokens: N, temperature: 0, backend: "wasm", threads: 2, autorun: 1 }));
    const out = await waitEnd(page);
    expect(out.error).toBe("");
    expect(out.state).toBe("done");
    expect(out.tokens!.split(",").map(Number)).toEqual(expectedDefault);
    // The streamed text is the library's, a line a block (this continuation breaks its line: two blocks at least).
    expect(expectedText.value).toContain("\n");
    expect(out.text).toBe(expectedText.value);
    const blocks = await page.$$eval("#output > .para", (b) => b.map((x) => x.textContent));
    expect(blocks.length).toBe(expectedText.value.split("\n").filter((l, i, a) => i < a.length - 1 || l).length);
    expect(blocks.slice(0, -1).every((b) => b!.endsWith("\n"))).toBe(true);
    expect(out.backend).toMatch(/^wasm/);
    expect(Number(out.decodeTps)).toBeGreaterThan(0);
    expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
    await page.close();
  });

  test("quantizing while loading (q4_0): greedy tokens equal the library's with the same conversion", async () => {
    const backend = await createWasmBackend({ threads: 1 });
    const m = await loadModel(undefined, { backend, dtype: "q4_0" });
    const want = (await m.complete(PROMPT, { maxNewTokens: N })).tokens;
    m.dispose();
    const page = await ctx.newPage();
    await page.goto(server.url + q({ prompt: PROMPT, max_new_tokens: N, dtype: "q4_0", autorun: 1, sw: 0 }));
    const out = await waitEnd(page);
    expect(out.error).toBe("");
    expect(out.tokens!.split(",").map(Number)).toEqual(want);
    expect(want).not.toEqual(expectedDefault); // q4_0 changes this small model's continuation: the conversion did happen
    await page.close();
  });

  for (const dtype of ["q4_0", "q8_0"] as const) {
    test(`${dtype} with its integer dots in the dot-add form (exact in this Chromium's V8) and without: the library's tokens`, async () => {
      // A prompt long enough for the prefill's unpacked-pairs kernel (6 tokens and more), decode through the 16-row tiles.
      const prompt = "Once upon a time there was a little girl who lived in a small house at the edge of the great dark wood.";
      const backend = await createWasmBackend({ threads: 1, dotAdd: false });
      const m = await loadModel(undefined, { backend, dtype });
      expect(m.tokenizer.encode(prompt).length).toBeGreaterThan(16);
      const want = (await m.complete(prompt, { maxNewTokens: N })).tokens;
      m.dispose();
      // q8_0's form needs bytes past 127 read unsigned (vpdpbusd: x86 CPUs with AVX-VNNI); elsewhere q4_0's alone is taken.
      for (const [dotAdd, name] of [["on", /^wasm-relaxed\+dot-add(\+u8)?$/], ["off", /^wasm-relaxed$/]] as const) {
        const page = await ctx.newPage();
        await page.goto(server.url + q({ prompt, max_new_tokens: N, dtype, threads: 2, dot_add: dotAdd, autorun: 1, sw: 0 }));
        const out = await waitEnd(page);
        expect(out.error).toBe("");
        expect(out.backend).toMatch(name);
        expect(out.tokens!.split(",").map(Number)).toEqual(want);
        await page.close();
      }
    });
  }

  test("?model=default-instruct: the default model with its shipped adapter, unmerged: `openelm generate --model default-instruct`'s greedy tokens", async () => {
    const page = await ctx.newPage();
    const [cli] = await Promise.all([runCli(["generate", PROMPT, "--model", "default-instruct", "-n", String(N), "--temperature", "0", "--json"]),
      page.goto(server.url + q({ model: "default-instruct", prompt: PROMPT, max_new_tokens: N, temperature: 0, autorun: 1, sw: 0 }))]);
    expect(cli.stderr).toBe("");
    const instruct = JSON.parse(cli.stdout).tokens as number[];
    expect(instruct).not.toEqual(expectedDefault); // the adapter changes this prompt's continuation
    const out = await waitEnd(page);
    expect(out.error).toBe("");
    expect(out.tokens!.split(",").map(Number)).toEqual(instruct);
    expect(out.adapter).toBe("default-instruct");
    expect(await page.textContent("#model-info")).toMatch(/^default-instruct \(default \+ its adapter, unmerged\)/);
    await page.close();
  });

  test("the default-instruct choice loads into Chat mode; a reply equals `openelm chat --model default-instruct`'s", async () => {
    const question = "How do I make bread?";
    const chat = async (model: string) => {
      const r = await runCli(["chat", "--model", model, "-n", String(N), "--no-stats"], `${question}\n/exit\n`);
      expect(r.code).toBe(0);
      return r.stdout.replace(/\n$/, "");
    };
    const page = await ctx.newPage();
    const [instruct, base] = await Promise.all([chat("default-instruct"), chat("default"), page.goto(server.url + q({ sw: 0 }))]);
    expect(instruct.trim()).not.toBe("");
    expect(instruct).not.toBe(base);
    await page.check("input[name=source][value=default-instruct]");
    await page.click("#load");
    await page.waitForFunction(() => document.body.dataset.state === "ready" || document.body.dataset.state === "error");
    expect(await page.isChecked("input[name=mode][value=chat]")).toBe(true);
    await page.fill("#prompt", question);
    await page.fill("#max-new-tokens", String(N));
    await page.click("#generate");
    const out = await waitEnd(page);
    expect(out.error).toBe("");
    expect(out.text).toBe(instruct);
    expect(await page.textContent("#chat-log")).toContain(instruct.trim());
    await page.close();
  });

  test("a hub id fetched over the network (a stand-in for huggingface.co): tiny-32k's float64 reference greedy tokens", async () => {
    const expected = JSON.parse(fs.readFileSync(path.join(TINY, "expected.json"), "utf8"));
    const seq = expected.sequences.find((s: { name: string }) => s.name === "text_openelm");
    const page = await ctx.newPage();
    const asked: string[] = [];
    await page.route("https://huggingface.co/**", (route) => {
      const m = /^https:\/\/huggingface\.co\/test-org\/tiny-32k\/resolve\/main\/([\w.-]+)$/.exec(route.request().url());
      asked.push(m?.[1] ?? route.request().url());
      const file = m && path.join(TINY, m[1]);
      const cors = { "Access-Control-Allow-Origin": "*" };
      if (!file || m[1] === "expected.json" || !fs.existsSync(file)) return route.fulfill({ status: 404, headers: cors, body: "not found" });
      return route.fulfill({ status: 200, headers: cors, body: fs.readFileSync(file) });
    });
    await page.goto(server.url + q({ prompt: seq.text, max_new_tokens: seq.greedy.tokens.length, ignore_eos: 1, model: "test-org/tiny-32k", autorun: 1 }));
    const out = await waitEnd(page);
    expect(out.error).toBe("");
    expect(out.tokens!.split(",").map(Number)).toEqual(seq.greedy.tokens);
    expect(asked).toEqual(expect.arrayContaining(["config.json", "model.safetensors"]));
    await page.close();
  });

  test("a local .gguf picked through the file input, quantized q8_0 by llama.cpp: tokens equal the library's on the file", async () => {
    const want = await libraryGreedy(GGUF, PROMPT, N);
    const page = await ctx.newPage();
    await page.goto(server.url + q({ sw: 0 }));
    await page.setInputFiles("#model-file", GGUF);
    await page.click("#load");
    await page.waitForFunction(() => document.body.dataset.state === "ready" || document.body.dataset.state === "error");
    await page.fill("#prompt", PROMPT);
    await page.fill("#max-new-tokens", String(N));
    await page.click("#generate");
    const out = await waitEnd(page);
    expect(out.error).toBe("");
    expect(out.tokens!.split(",").map(Number)).toEqual(want);
    expect(await page.textContent("#model-info")).toContain("tiny-32k-q8_0.gguf");
    await page.close();
  });

  test("prefill reports progress, and Stop during the prompt's prefill ends the generation before any token", async () => {
    const page = await ctx.newPage();
    // One token per engine step and one thread: the prefill of ~200 tokens takes many steps. Stop is clicked
    // in the task that shows the first progress line, so the abort reaches the engine during the prefill.
    await page.goto(server.url + q({ prompt: "It was a dark and stormy night. ".repeat(22), max_new_tokens: 8, prefill_chunk: 1, threads: 1, autorun: 1, sw: 0 }));
    const progress = await page.evaluate(() => new Promise<string>((resolve) => {
      const stats = document.getElementById("stats")!;
      new MutationObserver((_, o) => {
        if (!stats.textContent!.startsWith("prefill:")) return;
        o.disconnect();
        (document.getElementById("stop") as HTMLButtonElement).click();
        resolve(stats.textContent!);
      }).observe(stats, { childList: true, characterData: true, subtree: true });
    }));
    const [, done, total] = /^prefill: (\d+) of (\d+) prompt tokens$/.exec(progress)!.map(Number);
    expect(done).toBeGreaterThan(0);
    expect(done).toBeLessThan(total);
    const out = await waitEnd(page);
    expect(out.error).toBe("");
    expect(out.finishReason).toBe("abort");
    expect(out.tokens).toBe("");
    await page.close();
  });

  test("bad input: a folder without config.json and a corrupt .gguf show one clear message; the page then still works", async () => {
    const folder = path.join(tmp, "no-config");
    fs.mkdirSync(folder);
    fs.copyFileSync("assets/models/default/model.safetensors", path.join(folder, "model.safetensors"));
    const bad = path.join(tmp, "corrupt.gguf");
    fs.writeFileSync(bad, Buffer.concat([Buffer.from("GGUF"), Buffer.alloc(60, 0xff)]));
    const page = await ctx.newPage();
    await page.goto(server.url + q({ sw: 0 }));
    await page.setInputFiles("#model-folder", folder);
    await page.click("#load");
    let out = await waitEnd(page);
    expect(out.state).toBe("error");
    expect(out.error).toMatch(/^no-config: no config\.json; pick a model folder/);

    await page.setInputFiles("#model-file", bad);
    await page.click("#load");
    await page.waitForFunction(() => document.body.dataset.state === "error" && document.getElementById("error")!.textContent!.includes("corrupt.gguf"));
    out = await waitEnd(page);
    expect(out.error).toMatch(/^corrupt\.gguf: /);
    expect(out.error.split("\n")).toHaveLength(1);

    await page.check("input[name=source][value=default]");
    await page.click("#load");
    await page.waitForFunction(() => document.body.dataset.state === "ready");
    await page.fill("#prompt", PROMPT);
    await page.fill("#max-new-tokens", String(N));
    await page.click("#generate");
    out = await waitEnd(page);
    expect(out.error).toBe("");
    expect(out.tokens!.split(",").map(Number)).toEqual(expectedDefault);
    await page.close();
  });

  test("a second visit with the server gone: the page, the kernels and the stored model load offline", async () => {
    const own = await startWebServer(); // its own origin (port), so the first visit starts with nothing stored
    try {
      const page = await ctx.newPage();
      const url = own.url + q({ prompt: PROMPT, max_new_tokens: N, autorun: 1 });
      await page.goto(url);
      expect((await waitEnd(page)).state).toBe("done");
      await page.evaluate(() => navigator.serviceWorker.ready.then(() => undefined));
      await own.stop();
      await page.goto(url);
      const out = await waitEnd(page);
      expect(out.error).toBe("");
      expect(out.tokens!.split(",").map(Number)).toEqual(expectedDefault);
      expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
      await page.close();
    } finally {
      await own.stop();
    }
  });
});

describe("web app in Chromium with WebGPU (SwiftShader, Chromium's CPU implementation)", () => {
  test("backend=webgpu: greedy tokens equal the library's (wasm) on the default model", async () => {
    const gpu = await launchChromium(SWIFTSHADER_WEBGPU);
    try {
      const page = await gpu.newPage();
      await page.goto(server.url + q({ prompt: PROMPT, max_new_tokens: N, backend: "webgpu", autorun: 1, sw: 0 }));
      const out = await waitEnd(page, 60_000);
      expect(out.error).toBe("");
      expect(out.backend).toBe("webgpu");
      expect(out.tokens!.split(",").map(Number)).toEqual(expectedDefault);
    } finally {
      await gpu.close();
    }
  }, 90_000);
});
