// `openelm chat` as a process with piped input: replies equal the library's chat, /reset starts over,
// and the KV cache of earlier turns is reused (the saved prompt tokens are reported). Runs dist/.

import { spawn } from "node:child_process";
import { expect, test } from "vitest";
import { loadModel } from "../src/engine.js";

const TINY = "test/fixtures/openelm/tiny-32k";

function runChat(input: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ["dist/cli/main.js", "chat", "--model", TINY, "--backend", "ref", ...args]);
    let stdout = "", stderr = "";
    p.stdout.on("data", (d) => { stdout += d; });
    p.stderr.on("data", (d) => { stderr += d; });
    p.on("exit", (code) => resolve({ code, stdout, stderr }));
    p.stdin.end(input);
  });
}

test("openelm chat: streamed multi-turn replies, /reset, /exit, KV cache reuse reported", async () => {
  const r = await runChat("Hello\nWhat next?\n/reset\nHello\n/exit\nnever read\n", ["--system", "Be brief.", "-n", "5"]);
  expect(r.code).toBe(0);
  const model = await loadModel(TINY);
  const first = await model.chat([{ role: "system", content: "Be brief." }, { role: "user", content: "Hello" }], { maxNewTokens: 5 });
  const s = model.chatSession("Be brief.");
  await s.send("Hello", { maxNewTokens: 5 }).result;
  const second = await s.send("What next?", { maxNewTokens: 5 }).result;
  // after /reset the same first turn comes back
  expect(r.stdout).toBe(`${first.text}\n${second.text}\n${first.text}\n`);
  const stats = r.stderr.split("\n").filter((l) => l.startsWith("["));
  expect(stats[0]).toMatch(new RegExp(`^\\[${first.promptTokens} prompt tokens \\(0 reused from earlier turns\\), 5 generated, `));
  expect(stats[1]).toMatch(new RegExp(`^\\[${second.promptTokens} prompt tokens \\(${second.cachedPromptTokens} reused from earlier turns\\), 5 generated, `));
  expect(second.cachedPromptTokens).toBeGreaterThan(first.promptTokens - 1);
  expect(r.stderr).toContain("(conversation reset)");
  expect(r.stderr).toContain(`prompt tokens saved by reusing the KV cache: ${second.cachedPromptTokens}\n`);
}, 60_000);
