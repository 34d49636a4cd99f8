// The library as a user calls it: the fastest backend by default, backends by name, and one check of
// generation options whose messages the CLI and the server share.

import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import { loadModel, type Model } from "../src/index.js";
import { validateGenerationOptions, API_NAMES } from "../src/generate/options.js";
import { parseRequest } from "../src/serve/request.js";

const TINY = "test/fixtures/openelm/tiny-32k";
const run = promisify(execFile);

let wasm: Model, ref: Model;
beforeAll(async () => {
  wasm = await loadModel(TINY, { threads: 2 });
  ref = await loadModel(TINY, { backend: "ref" });
});
afterAll(() => { wasm.dispose(); ref.dispose(); });

describe("backends", () => {
  test("the default is the WASM backend, and it agrees with the reference backend", async () => {
    expect(wasm.network.backend.name).toMatch(/^wasm/);
    expect(ref.network.backend.name).toBe("ref");
    const a = await wasm.complete("Once upon a time", { maxNewTokens: 12, ignoreEos: true });
    const b = await ref.complete("Once upon a time", { maxNewTokens: 12, ignoreEos: true });
    expect(a.tokens).toEqual(b.tokens);
  });

  test('backend: "wasm" by name loads', async () => {
    const m = await loadModel(TINY, { backend: "wasm", threads: 1 });
    expect(m.network.backend.name).toMatch(/^wasm/);
    m.dispose();
  });

  test("an unknown backend name or a bad thread count is a clear error", async () => {
    await expect(loadModel(TINY, { backend: "gpu" as never })).rejects.toThrow(
      'backend: unknown backend "gpu"; expected one of auto, wasm, ref, webgpu');
    await expect(loadModel(TINY, { threads: 0 })).rejects.toThrow("threads: expected an integer ≥ 1, got 0");
  });
});

describe("generation options", () => {
  const cases: Array<[object, string]> = [
    [{ temperature: -1 }, "temperature: -1 is out of range; expected a number in [0, 2] (0 = greedy)"],
    [{ topP: 2 }, "topP: 2 is out of range; expected a number in [0, 1] (1 = off)"],
    [{ topK: -1 }, "topK: -1 is out of range; expected an integer in [0, 2147483647] (0 = off)"],
    [{ topK: 1.5 }, "topK: expected an integer in [0, 2147483647] (0 = off), got 1.5"],
    [{ maxNewTokens: -3 }, "maxNewTokens: -3 is out of range; expected an integer in [0, 2147483647]"],
    [{ repetitionPenalty: 0 }, "repetitionPenalty: 0 is out of range; expected a number in [0.01, 10] (1 = off)"],
    [{ minP: "0.1" }, 'minP: expected a number in [0, 1] (0 = off), got "0.1"'],
    [{ stop: "x" }, 'stop: expected a list of strings, got "x"'],
  ];

  test.each(cases)("the library rejects %j at the call", (opts, msg) => {
    expect(() => wasm.generate("x", opts)).toThrow(msg);
    expect(() => validateGenerationOptions(opts as never)).toThrow(msg);
  });

  test("the server rejects the same values with the same message, naming its field", () => {
    const body = (extra: object) => ({ model: "m", prompt: "x", ...extra });
    expect(() => parseRequest(body({ temperature: -1 }), "completions")).toThrow(
      "temperature: -1 is out of range; expected a number in [0, 2] (0 = greedy)");
    expect(() => parseRequest(body({ top_p: 2 }), "completions")).toThrow("top_p: 2 is out of range; expected a number in [0, 1] (1 = off)");
    expect(() => parseRequest(body({ top_k: -1 }), "completions")).toThrow(
      "top_k: -1 is out of range; expected an integer in [0, 2147483647] (0 = off)");
    expect(API_NAMES.topK).toBe("top_k");
  });

  test("the CLI rejects the same values with the same message, as a usage error (exit 2)", async () => {
    const cli = (args: string[]) => run("node", ["dist/cli/main.js", ...args]).then(() => ({ code: 0, stderr: "" }),
      (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }));
    const t = await cli(["generate", "x", "--model", TINY, "--temperature", "-1"]);
    expect(t.code).toBe(2);
    expect(t.stderr).toContain("-1 is out of range; expected a number in [0, 2] (0 = greedy)");
    const p = await cli(["generate", "x", "--model", TINY, "--top-p", "2"]);
    expect(p.code).toBe(2);
    expect(p.stderr).toContain("2 is out of range; expected a number in [0, 1] (1 = off)");
  });
});

describe("backend fallback", () => {
  test('"auto" warns and runs on the reference backend when the WASM kernels cannot load; "wasm" fails', async () => {
    vi.resetModules();
    vi.doMock("../src/kernels/wasm/index.js", () => ({
      createWasmBackend: async () => { throw new Error("kernels.wasm not found"); },
    }));
    const { createBackend } = await import("../src/kernels/select.js");
    const warnings: string[] = [];
    const be = await createBackend("auto", { onWarning: (m) => warnings.push(m) });
    expect(be.name).toBe("ref");
    expect(warnings).toEqual(["openelm: the WASM kernels did not load (kernels.wasm not found); running on the reference backend, which is much slower"]);
    await expect(createBackend("wasm")).rejects.toThrow("kernels.wasm not found");
    vi.doUnmock("../src/kernels/wasm/index.js");
  });

  test("OPENELM_BACKEND with an unknown name is rejected, naming the variable", async () => {
    const r = await run("node", ["dist/cli/main.js", "generate", "x", "--model", TINY, "-n", "1"], { env: { ...process.env, OPENELM_BACKEND: "gpu" } })
      .then(() => ({ code: 0, stderr: "" }), (e: { code: number; stderr: string }) => e);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('OPENELM_BACKEND: unknown backend "gpu"; expected one of auto, wasm, ref, webgpu');
  });
});

describe("chat sessions past the context", () => {
  test("the oldest turns are left out, the system message stays, and every turn gets a reply", async () => {
    const m = await loadModel(undefined, { threads: 2 }); // the embedded model: 256 positions
    const s = m.chatSession("You are a storyteller.");
    const long = "Tell me a long story about a ship, a storm, a captain and the sea that swallowed them all. ";
    for (let turn = 0; turn < 4; turn++) {
      const r = await s.send(long, { maxNewTokens: 80, ignoreEos: true }).result;
      expect(r.completionTokens, `turn ${turn}`).toBeGreaterThan(0);
      expect(r.promptTokens + r.completionTokens).toBeLessThanOrEqual(m.contextLength);
    }
    expect(s.droppedMessages).toBeGreaterThan(0);
    expect(s.messages[0]).toEqual({ role: "system", content: "You are a storyteller." });
    expect(s.messages.at(-1)!.role).toBe("assistant");
    m.dispose();
  });
});

test("a script run with node -e --input-type=module gets the WASM kernels too (workers do not inherit -e)", async () => {
  const code = `const { loadModel } = await import(${JSON.stringify(new URL("../dist/index.js", import.meta.url).pathname)});
    const m = await loadModel(${JSON.stringify(TINY)}, { threads: 2 }); console.log(m.backend); m.dispose();`;
  const r = await run("node", ["--input-type=module", "-e", code]);
  expect(r.stdout.trim()).toMatch(/^wasm(-relaxed)?$/);
  expect(r.stderr).toBe("");
});

test("generate --stats says which backend ran", async () => {
  const r = await run("node", ["dist/cli/main.js", "generate", "x", "--model", TINY, "-n", "2", "--stats", "-t", "1"]);
  expect(r.stderr).toMatch(/, backend wasm(-relaxed)?\]\n$/);
  const ref = await run("node", ["dist/cli/main.js", "generate", "x", "--model", TINY, "-n", "2", "--stats", "--backend", "ref"]);
  expect(ref.stderr).toMatch(/, backend ref\]\n$/);
});
