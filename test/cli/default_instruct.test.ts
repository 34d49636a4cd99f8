// default-instruct: the embedded default model with its shipped chat adapter (assets/models/default-instruct, a
// PEFT LoRA trained with `openelm finetune`), by name everywhere a model is named. It answers in the chat format
// and ends its reply with EOS, where the base model only continues the text.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { loadModel } from "../../src/engine.js";
import { defaultInstructAdapterDir } from "../../src/models/registry.js";
import { runCli } from "./run.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "openelm-default-instruct-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const question = [{ role: "user" as const, content: "How do I make bread?" }];

describe("default-instruct", () => {
  test("answers a question and stops with EOS; the base model runs on to the token limit", async () => {
    const instruct = await loadModel("default-instruct", { threads: 1 });
    const base = await loadModel("default", { threads: 1 });
    try {
      const reply = await instruct.chat(question, { maxNewTokens: 128 });
      expect(reply.finishReason).toBe("stop");
      expect(reply.completionTokens).toBeLessThan(128);
      expect(reply.text.trim().length).toBeGreaterThan(0);
      const cont = await base.chat(question, { maxNewTokens: 128 });
      expect(cont.finishReason).toBe("length");
      expect(cont.text).not.toBe(reply.text);
    } finally {
      instruct.dispose();
      base.dispose();
    }
  });

  test("is the default model with the adapter directory applied", async () => {
    const byName = await loadModel("default-instruct", { threads: 1 });
    const byParts = await loadModel("default", { threads: 1, adapter: defaultInstructAdapterDir() });
    try {
      const a = await byName.complete("The bread", { maxNewTokens: 12 });
      const b = await byParts.complete("The bread", { maxNewTokens: 12 });
      expect(a.tokens).toEqual(b.tokens);
    } finally {
      byName.dispose();
      byParts.dispose();
    }
  });

  test("a second adapter on top is refused, naming both", async () => {
    await expect(loadModel("default-instruct", { adapter: tmp })).rejects.toThrow(/adapter .*default-instruct.* already applies its own adapter/);
    const r = runCli(["generate", "x", "--model", "default-instruct", "--adapter", tmp, "-n", "1"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--adapter: --model default-instruct already applies its own adapter/);
  });

  test("commands that take a plain model say how to get one; merge writes it", () => {
    const q = runCli(["quantize", "--model", "default-instruct", "--out", path.join(tmp, "x.gguf"), "--type", "q8_0"]);
    expect(q.code).toBe(1);
    expect(q.stderr).toMatch(/"default-instruct" is a base model with an adapter \(write one with: openelm merge --model default-instruct --out DIR\)/);
    expect(fs.existsSync(path.join(tmp, "x.gguf"))).toBe(false);
    const out = path.join(tmp, "merged");
    const m = runCli(["merge", "--model", "default-instruct", "--out", out]);
    expect(m.stderr).toBe("");
    expect(m.code).toBe(0);
    const info = JSON.parse(runCli(["info", "--model", out, "--json"]).stdout);
    expect(info.parameter_count).toBe(7861056);
  });
});
