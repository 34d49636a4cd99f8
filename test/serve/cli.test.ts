// `openelm serve` as a process: it prints its address, answers, and on SIGTERM stops accepting,
// finishes the stream in flight (ending with [DONE]) and exits 0. Runs the built CLI (dist/).

import { spawn, type ChildProcess } from "node:child_process";
import { afterEach, expect, test } from "vitest";

const TINY = "test/fixtures/openelm/tiny-32k";
let child: ChildProcess | undefined;
afterEach(() => { if (child && child.exitCode === null) child.kill("SIGKILL"); });

/** Start `openelm serve` on a free port; resolves to its base URL and a handle on its stderr. */
export async function startServeCli(args: string[] = []): Promise<{ base: string; proc: ChildProcess; stderr: () => string }> {
  const proc = spawn(process.execPath, ["dist/cli/main.js", "serve", "--model", TINY, "--port", "0", "--backend", "ref", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  const base = await new Promise<string>((resolve, reject) => {
    proc.stderr!.on("data", (d: Buffer) => {
      err += d.toString();
      const m = /at (http:\/\/127\.0\.0\.1:\d+)\/v1/.exec(err);
      if (m) resolve(m[1]);
    });
    proc.on("exit", (code) => reject(new Error(`serve exited ${code}: ${err}`)));
    setTimeout(() => reject(new Error(`serve did not start: ${err}`)), 20_000);
  });
  return { base, proc, stderr: () => err };
}

test("SIGTERM drains: the stream in flight completes with [DONE], then the process exits 0", async () => {
  const s = await startServeCli(["--model-id", "tiny"]);
  child = s.proc;
  const health = await (await fetch(`${s.base}/health`)).json();
  expect(health).toEqual({ status: "ok", model: "tiny", running: 0, queued: 0 });
  const res = await fetch(`${s.base}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "tiny", prompt: "Once upon a time", max_tokens: 20, temperature: 0, stream: true, ignore_eos: true }) });
  const reader = res.body!.getReader();
  const first = await reader.read(); // the stream is running
  expect(new TextDecoder().decode(first.value)).toMatch(/^data: \{/);
  const exited = new Promise<number | null>((r) => s.proc.on("exit", (code) => r(code)));
  s.proc.kill("SIGTERM");
  let text = new TextDecoder().decode(first.value);
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  const events = text.split("\n\n").filter(Boolean);
  expect(events.at(-1)).toBe("data: [DONE]");
  const last = JSON.parse(events.at(-2)!.slice(6));
  expect(last.choices[0].finish_reason).toBe("length");
  expect(events.length).toBe(20 + 2); // 20 token chunks, the finish chunk, [DONE]
  expect(await exited).toBe(0);
  expect(s.stderr()).toContain("openelm: SIGTERM: draining 1 request(s)");
  expect(s.stderr()).toContain("openelm: server stopped");
  await expect(fetch(`${s.base}/health`)).rejects.toThrow();
}, 60_000);

test("--adapter NAME=DIR (repeatable; a bare DIR is named after its folder): models listed as MODEL_ID:NAME", async () => {
  const s = await startServeCli(["--model-id", "tiny", "--adapter", "l=test/fixtures/openelm-train/tiny-32k/lora-adapter",
    "--adapter", "test/fixtures/openelm-train/tiny-32k/dora-adapter"]);
  child = s.proc;
  const models = await (await fetch(`${s.base}/v1/models`)).json();
  expect(models.data.map((m: { id: string }) => m.id)).toEqual(["tiny", "tiny:l", "tiny:dora-adapter"]);
  expect(s.stderr()).toMatch(/serving tiny, tiny:l, tiny:dora-adapter at/);
});
