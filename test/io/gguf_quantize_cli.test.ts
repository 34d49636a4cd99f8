// `openelm quantize` through the built CLI (dist/; `npm test` builds first): its q8_0 / q4_0 files hold the
// same tensors, bytes and metadata as llama-quantize's (test/fixtures/gguf, from ../shared), and bad input
// gets one pinned line.
import { afterAll, describe, expect, test } from "vitest";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { openGguf, type GgufArray } from "../../src/io/gguf.js";

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), "quantize-cli-"));
afterAll(() => fs.rmSync(TMP, { recursive: true, force: true }));
import { CLI, runProcess } from "../cli/run.js";
const FX = new URL("../fixtures/gguf/", import.meta.url).pathname;
const TINY = new URL("../fixtures/openelm/tiny-32k", import.meta.url).pathname;

function cli(args: string[], cwd: string) {
  return runProcess([CLI, ...args], { cwd, timeout: 60_000 });
}

function snapshot(file: string) {
  const r = openGguf(file);
  try {
    const tensors = new Map(r.header.tensors.map((t) => [t.name, { type: t.typeName, ne: t.ne, bytes: r.tensorBytes(t) }]));
    const md = new Map(r.header.metadata.map((kv) => [kv.key, typeof kv.value === "object" ? (kv.value as GgufArray).items : kv.value]));
    return { tensors, md };
  } finally {
    r.close();
  }
}

describe("openelm quantize", () => {
  for (const type of ["q8_0", "q4_0"] as const) {
    test(`tiny-32k directory -> ${type}: tensors and metadata equal llama-quantize's file`, async () => {
      const dir = fs.mkdtempSync(path.join(TMP, "t-"));
      const r = await cli(["quantize", "--model", TINY, "--out", "out", "--type", type], dir);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      const file = path.join(dir, "out", `tiny-32k-${type}.gguf`);
      expect(r.stdout).toMatch(new RegExp(`^wrote out/tiny-32k-${type}\\.gguf: `));
      const mine = snapshot(file), theirs = snapshot(FX + `tiny-32k-${type}.gguf`);
      expect([...mine.tensors.keys()].sort()).toEqual([...theirs.tensors.keys()].sort());
      for (const [name, t] of theirs.tensors) {
        const m = mine.tensors.get(name)!;
        expect([m.type, m.ne], name).toEqual([t.type, t.ne]);
        expect(Buffer.compare(m.bytes, t.bytes), name).toBe(0);
      }
      const freeForm = new Set(["general.name", "general.finetune", "general.basename"]);
      expect([...mine.md.keys()].filter((k) => !freeForm.has(k)).sort()).toEqual([...theirs.md.keys()].filter((k) => !freeForm.has(k)).sort());
      for (const [k, v] of theirs.md) {
        if (freeForm.has(k)) continue;
        if (typeof v === "number" && !Number.isInteger(v)) expect(mine.md.get(k) as number).toBeCloseTo(v, 12);
        else expect(mine.md.get(k), k).toEqual(v);
      }
    }, 60_000);
  }

  test("bad input: one line, exit 1 (or 2 for a usage error)", async () => {
    const dir = fs.mkdtempSync(path.join(TMP, "t-"));
    fs.writeFileSync(path.join(dir, "bad.gguf"), Buffer.from("GGUF\x03\x00\x00\x00"));
    expect(await cli(["quantize", "-m", "bad.gguf", "-o", "x.gguf", "--type", "q8_0"], dir)).toEqual({
      code: 1, stdout: "", stderr: "openelm: CheckpointError: bad.gguf: truncated: 8 bytes, a GGUF header needs at least 24\n",
    });
    expect(await cli(["quantize", "-m", "missing.gguf", "-o", "x.gguf", "--type", "q8_0"], dir)).toEqual({
      code: 1, stdout: "", stderr: "openelm: InputError: --model missing.gguf: no such GGUF file\n",
    });
    const r = await cli(["quantize", "-m", "bad.gguf", "-o", "x.gguf", "--type", "q5_1"], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`error: option '--type <type>' argument 'q5_1' is invalid. expected one of f32, f16, bf16, q8_0, q4_0, q4_k_m, q4_k_s, q5_k_m, q6_k, got "q5_1"\n`);
    expect(fs.existsSync(path.join(dir, "x.gguf"))).toBe(false);
    const d = await cli(["logits", "-m", "bad.gguf", "--dtype", "q5_k", "--prompt", "x"], dir);
    expect(d.code).toBe(2);
    expect(d.stderr).toBe(`error: option '--dtype <type>' argument 'q5_k' is invalid. expected one of f32, f16, bf16, q8_0, q4_0, q4_k_m, q4_k_s, q5_k_m, q6_k, got "q5_k"\n`);
  });

  test("K-quants: `--type q4_k_m` writes llama-quantize's tensors (tiny-kq, see gguf_kquant.test.ts) and general.file_type 15", async () => {
    const { initCheckpoint } = await import("../../src/models/init.js");
    const { parseConfig } = await import("../../src/models/config.js");
    const want = JSON.parse(fs.readFileSync(FX + "tiny-kq-tensors.json", "utf-8"));
    const dir = fs.mkdtempSync(path.join(TMP, "t-"));
    initCheckpoint(parseConfig(JSON.parse(fs.readFileSync(FX + "tiny-kq/config.json", "utf-8"))), path.join(dir, "tiny-kq"), "f32", want.seed);
    const r = await cli(["quantize", "--model", "tiny-kq", "--out", "out", "--type", "q4_k_m"], dir);
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/^wrote out\/tiny-kq-q4_k_m\.gguf: .* tensors 33 f32, 10 q5_0, 8 q5_k, 10 q4_k, 5 q6_k \(/);
    const mine = snapshot(path.join(dir, "out", "tiny-kq-q4_k_m.gguf"));
    expect(mine.md.get("general.file_type")).toBe(15);
    for (const [name, w] of Object.entries(want.files.q4_k_m.tensors) as [string, { type: string; sha256: string }][]) {
      const m = mine.tensors.get(name)!;
      expect(m.type, name).toBe(w.type);
      expect(createHash("sha256").update(m.bytes).digest("hex"), name).toBe(w.sha256);
    }
  }, 60_000);
});
