// In-tab fine-tuning in real Chromium (headless, Debian's package): the page trains a LoRA adapter on the
// default model in its engine worker from pasted text; the loss goes down; the adapter's PEFT files come
// out of the Download links, load in Node, and Node's greedy tokens with them equal the page's with the
// adapter (which differ from the base model's). A dropped file fills the box; Stop ends a run early and keeps
// the adapter so far; bad JSON lines show one message naming the line.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { BrowserContext, Page } from "playwright-core";
import { loadModel } from "../../src/engine.js";
import { createWasmBackend } from "../../src/kernels/wasm/index.js";
import { launchChromium, startWebServer } from "./chromium.mjs";

const TEXT = "The lighthouse keeper climbed the stairs every night to light the lamp for the ships at sea. ".repeat(6);
const PROMPT = "The lighthouse keeper";
const N = 16;

async function libraryGreedy(adapter: string | undefined): Promise<number[]> {
  const m = await loadModel(undefined, { backend: await createWasmBackend({ threads: 1 }), adapter });
  try { return (await m.complete(PROMPT, { maxNewTokens: N })).tokens; } finally { m.dispose(); }
}

const q = (p: Record<string, string | number>) => "?" + new URLSearchParams(Object.entries(p).map(([k, v]) => [k, String(v)])).toString();

async function waitState(page: Page, states: string[], timeout = 60_000): Promise<string> {
  await page.waitForFunction((s) => s.includes(document.body.dataset.state ?? ""), states, { timeout });
  const state = await page.evaluate(() => document.body.dataset.state!);
  if (state === "error") throw new Error(`the page failed: ${await page.textContent("#error")}`);
  return state;
}

let server: Awaited<ReturnType<typeof startWebServer>>;
let ctx: BrowserContext;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "openelm-web-ft-"));

beforeAll(async () => { [server, ctx] = await Promise.all([startWebServer(), launchChromium()]); }, 60_000);
afterAll(async () => {
  await ctx?.close();
  await server?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe("fine-tuning in the page", () => {
  test("LoRA on pasted text: the loss falls; the downloaded adapter gives Node the page's greedy tokens", async () => {
    const page = await ctx.newPage();
    await page.goto(server.url + q({ train_text: TEXT, train_steps: 8, train_rank: 8, train_lr: 1e-2, train_ctx: 32, train_seed: 1,
      prompt: PROMPT, max_new_tokens: N, temperature: 0, threads: 2, autorun: 1, sw: 0 }));
    await waitState(page, ["done", "error"]);
    const losses = (await page.getAttribute("#loss-curve", "data-losses"))!.split(",").map(Number);
    expect(losses).toHaveLength(8);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(losses.slice(-3))).toBeLessThan(0.8 * mean(losses.slice(0, 3)));
    const start = JSON.parse((await page.getAttribute("#train-status", "data-start"))!);
    expect(start).toMatchObject({ format: "text", seqLen: 32 });
    expect(await page.getAttribute("#output", "data-adapter")).toBe("fine-tuned");
    const pageTokens = (await page.getAttribute("#output", "data-tokens"))!.split(",").map(Number);

    const dir = path.join(tmp, "adapter");
    fs.mkdirSync(dir);
    for (const link of ["#download-config", "#download-weights"]) {
      const [d] = await Promise.all([page.waitForEvent("download"), page.click(link)]);
      await d.saveAs(path.join(dir, d.suggestedFilename()));
    }
    expect(fs.readdirSync(dir).sort()).toEqual(["adapter_config.json", "adapter_model.safetensors"]);
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, "adapter_config.json"), "utf8"));
    expect(cfg).toMatchObject({ peft_type: "LORA", r: 8, lora_alpha: 16, task_type: "CAUSAL_LM" });
    const [withAdapter, base] = await Promise.all([libraryGreedy(dir), libraryGreedy(undefined)]);
    expect(pageTokens).toEqual(withAdapter);
    expect(withAdapter).not.toEqual(base); // the adapter changed the continuation
    await page.close();
  }, 90_000);

  test("Stop ends a run early; the adapter so far is kept and used; bad data shows one message naming the line", async () => {
    const page = await ctx.newPage();
    await page.goto(server.url + q({ threads: 2, sw: 0 }));
    await page.click("#load");
    await waitState(page, ["ready", "error"]);
    await page.fill("#train-data", '{"question": "Who keeps the lamp?", "answer": "The keeper."}\n{"question": 7}\n');
    await page.click("#train");
    await page.waitForFunction(() => document.body.dataset.state === "error");
    expect(await page.textContent("#error")).toBe('training data:2: field "question" must be a string, got 7');

    await page.evaluate((t) => { // a text file dropped on the box
      const dt = new DataTransfer();
      dt.items.add(new File([t], "notes.txt", { type: "text/plain" }));
      document.getElementById("train-data")!.dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
    }, TEXT);
    await page.waitForFunction((t) => (document.getElementById("train-data") as HTMLTextAreaElement).value === t, TEXT);
    await page.fill("#train-steps", "500");
    await page.fill("#train-ctx", "32");
    await page.click("#train");
    await page.waitForFunction(() => /^step \d+ of 500/.test(document.getElementById("train-status")!.textContent ?? ""));
    await page.click("#train-stop");
    await waitState(page, ["trained", "error"]);
    const status = (await page.textContent("#train-status"))!;
    const steps = Number(/^stopped after (\d+) steps/.exec(status)?.[1]);
    expect(steps).toBeGreaterThan(0);
    expect(steps).toBeLessThan(500);
    expect(await page.isChecked("#use-adapter")).toBe(true);
    expect(await page.isVisible("#download-weights")).toBe(true);
    await page.close();
  }, 60_000);
});
