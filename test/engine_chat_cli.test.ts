// `openelm chat` as a process with piped input: replies equal the library's chat, /reset starts over,
// and the KV cache of earlier turns is reused (the saved prompt tokens are reported). Runs dist/.

import { spawn } from "node:child_process";
import { expect, test } from "vitest";
import { loadModel } from "../src/engine.js";

const TINY = "test/fixtures/openelm/tiny-32k";

function runChat(input: string, args: string[], model = ["--model", TINY, "--backend", "ref"]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ["dist/cli/main.js", "chat", ...model, ...args]);
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

test("openelm chat with the embedded model (256-token context) goes on past the context, leaving out the oldest turns", async () => {
  const long = (topic: string) => `Tell me about ${topic}. ` + "The sea was grey and the wind was cold, and the ships came in one by one. ".repeat(5);
  const r = await runChat([long("the harbour"), long("the captain"), long("the crew"), "/exit"].join("\n") + "\n", ["-n", "40", "--system", "Be brief."], []);
  expect(r.stderr).not.toContain("does not fit");
  expect(r.code).toBe(0);
  const stats = r.stderr.split("\n").filter((l) => l.startsWith("[")).map((l) => Number(/^\[(\d+) prompt tokens/.exec(l)![1]));
  expect(stats).toHaveLength(3);
  // each turn's prompt (~100 tokens) + 40 reply tokens fits 256 only without the turn before it
  expect(stats[0]).toBeGreaterThan(100);
  expect(Math.max(...stats)).toBeLessThanOrEqual(256 - 40);
  expect(r.stderr.split("(the conversation outgrew the context of 256 tokens: leaving out the oldest turns, keeping the system message)\n")).toHaveLength(2); // said once
}, 60_000);
