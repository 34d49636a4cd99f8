// safetensors and checkpoint validation: every malformed input is a CheckpointError with a pinned message.
import { describe, expect, test } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseSafetensors, readSafetensors, serializeSafetensors, writeSafetensors } from "../../src/io/safetensors.js";
import { loadModelDir } from "../../src/models/load.js";
import type { StoredTensor } from "../../src/tensor/tensor.js";
import { FIXTURE, runCli } from "../cli/run.js";

const concat = (parts: Uint8Array[]) => Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)));
function fileWith(header: object, dataBytes: number): Uint8Array {
  const h = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  return concat([len, h, new Uint8Array(dataBytes)]);
}
const t = (name: string, shape: number[], dtype: "f32" | "bf16" = "f32"): StoredTensor =>
  ({ name, dtype, shape, data: new Uint8Array(shape.reduce((a, b) => a * b, 1) * (dtype === "f32" ? 4 : 2)).map((_, i) => i) });

describe("safetensors container", () => {
  test("round trip: sorted names, header padded to 8, same bytes back", () => {
    const bytes = concat(serializeSafetensors([t("b", [3, 2]), t("a", [5], "bf16")]));
    expect(Number(bytes.readBigUInt64LE(0)) % 8).toBe(0);
    const back = parseSafetensors(bytes, "x.safetensors");
    expect([...back.keys()]).toEqual(["a", "b"]);
    expect(back.get("a")!.dtype).toBe("bf16");
    expect(Array.from(back.get("b")!.data)).toEqual(Array.from(t("b", [3, 2]).data));
  });
  const cases: Array<[string, Uint8Array, string]> = [
    ["shorter than 8 bytes", new Uint8Array(5), "f.safetensors: file is 5 bytes, too short for a safetensors header (truncated?)"],
    ["header length beyond the file", (() => { const b = Buffer.alloc(16); b.writeBigUInt64LE(1000n); return b; })(),
      "f.safetensors: header length 1000 goes beyond the end of the 16-byte file (truncated?)"],
    ["header length absurd", (() => { const b = Buffer.alloc(16); b.writeBigUInt64LE(1n << 40n); return b; })(),
      "f.safetensors: header length 1099511627776 exceeds the 100000000-byte limit"],
    ["header not JSON", (() => { const b = Buffer.alloc(12); b.writeBigUInt64LE(4n); b.write("{{{{", 8); return b; })(),
      "f.safetensors: header is not valid UTF-8 JSON"],
    ["unknown dtype", fileWith({ w: { dtype: "I64", shape: [2], data_offsets: [0, 16] } }, 16),
      'f.safetensors: tensor "w" has dtype "I64", expected one of F32, BF16, F16'],
    ["offsets out of range (truncated data)", fileWith({ w: { dtype: "F32", shape: [4], data_offsets: [0, 16] } }, 8),
      'f.safetensors: tensor "w" has data_offsets [0,16] beyond the data section of 8 bytes (file truncated?)'],
    ["size disagrees with shape", fileWith({ w: { dtype: "F32", shape: [4], data_offsets: [0, 12] } }, 16),
      'f.safetensors: tensor "w" has data_offsets [0,12] (12 bytes), but F32 [4] needs 16 bytes'],
    ["overlapping tensors", fileWith({ a: { dtype: "F32", shape: [2], data_offsets: [0, 8] }, b: { dtype: "F32", shape: [2], data_offsets: [4, 12] } }, 16),
      'f.safetensors: tensors "a" [0,8] and "b" [4,12] overlap'],
    ["bad shape", fileWith({ a: { dtype: "F32", shape: [-1], data_offsets: [0, 0] } }, 0),
      'f.safetensors: tensor "a" has shape [-1], expected a list of non-negative integers'],
  ];
  for (const [what, bytes, msg] of cases)
    test(what, () => expect(() => parseSafetensors(bytes, "f.safetensors")).toThrow(msg));
  test("readSafetensors reads tensor by tensor and reports a truncated file", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oe-st-"));
    const f = path.join(dir, "m.safetensors");
    writeSafetensors(f, [t("w", [4, 4])]);
    expect(readSafetensors(f).tensors.get("w")!.shape).toEqual([4, 4]);
    fs.truncateSync(f, fs.statSync(f).size - 4);
    expect(() => readSafetensors(f)).toThrow(`${f}: tensor "w" has data_offsets [0,64] beyond the data section of 60 bytes (file truncated?)`);
    fs.rmSync(dir, { recursive: true });
  });
});

/** A copy of tiny-small-vocab with its weights or config changed. */
function mutated(edit: (dir: string) => void): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oe-ck-"));
  for (const f of ["config.json", "generation_config.json", "model.safetensors"]) fs.copyFileSync(`${FIXTURE("tiny-small-vocab")}/${f}`, path.join(dir, f));
  edit(dir);
  return dir;
}
function editTensors(dir: string, fn: (m: Map<string, StoredTensor>) => void) {
  const f = path.join(dir, "model.safetensors");
  const m = readSafetensors(f).tensors;
  fn(m);
  writeSafetensors(f, m.values());
}
function editConfig(dir: string, fn: (c: Record<string, unknown>) => void) {
  const f = path.join(dir, "config.json");
  const c = JSON.parse(fs.readFileSync(f, "utf-8"));
  fn(c);
  fs.writeFileSync(f, JSON.stringify(c));
}

describe("checkpoint validation (model directory)", () => {
  const cases: Array<[string, (d: string) => void, string]> = [
    ["missing tensor", (d) => editTensors(d, (m) => m.delete("transformer.layers.2.ffn.proj_2.weight")),
      'model.safetensors: missing tensor "transformer.layers.2.ffn.proj_2.weight" (shape [80,144])'],
    ["wrong shape", (d) => editTensors(d, (m) => { const x = m.get("transformer.norm.weight")!; m.set(x.name, { ...x, shape: [40, 2] }); }),
      'model.safetensors: tensor "transformer.norm.weight" has shape [40,2], config.json implies [80]'],
    ["unexpected tensor", (d) => editTensors(d, (m) => m.set("extra.bias", t("extra.bias", [3]))),
      'model.safetensors: unexpected tensor "extra.bias" (not part of this OpenELM config)'],
    ["truncated file", (d) => fs.truncateSync(path.join(d, "model.safetensors"), fs.statSync(path.join(d, "model.safetensors")).size - 100),
      'model.safetensors: tensor "transformer.token_embeddings.weight" has data_offsets [1089760,1252640] beyond the data section of 1252540 bytes (file truncated?)'],
    ["header length beyond the file", (d) => fs.truncateSync(path.join(d, "model.safetensors"), 1000),
      "model.safetensors: header length 4344 goes beyond the end of the 1000-byte file (truncated?)"],
    ["malformed config.json", (d) => fs.writeFileSync(path.join(d, "config.json"), "{ not json"),
      "config.json: not valid JSON"],
    ["unknown config field", (d) => editConfig(d, (c) => { c.rms_norm_eps = 1e-5; }),
      'config.json: unknown field "rms_norm_eps" (not an OpenELM config key)'],
    ["missing config field", (d) => editConfig(d, (c) => { delete c.model_dim; }),
      'config.json: missing field "model_dim" (expected a positive integer)'],
    ["per-layer list of the wrong length", (d) => editConfig(d, (c) => { c.num_kv_heads = [1, 1, 2]; }),
      'config.json: field "num_kv_heads" has 3 entries, expected num_transformer_layers = 5'],
    ["per-layer list disagreeing with the derivation", (d) => editConfig(d, (c) => { c.num_query_heads = [3, 3, 6, 6, 9]; c.num_kv_heads = [1, 1, 2, 2, 3]; }),
      "config.json: layer 4: num_query_heads/num_kv_heads are 9/3, but qkv_multipliers [0.5,1.5] with num_gqa_groups 3 give 6/2"],
    ["wrong type", (d) => editConfig(d, (c) => { c.head_dim = "20"; }),
      'config.json: field "head_dim" is "20", expected a positive integer'],
  ];
  for (const [what, edit, msg] of cases) {
    test(what, async () => {
      const dir = mutated(edit);
      expect(() => loadModelDir(dir)).toThrow(msg);
      const r = await runCli(["generate", "--model", dir, "--tokens", "1", "-n", "1"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(msg);
      expect(r.stderr).toContain(dir); // the file is named with its path
      fs.rmSync(dir, { recursive: true });
    });
  }
  test("sharded checkpoint through model.safetensors.index.json loads and matches the single file", () => {
    const dir = mutated((d) => {
      const m = readSafetensors(path.join(d, "model.safetensors")).tensors;
      const names = [...m.keys()].sort();
      const half = Math.floor(names.length / 2);
      const map: Record<string, string> = {};
      writeSafetensors(path.join(d, "model-00001-of-00002.safetensors"), names.slice(0, half).map((n) => m.get(n)!));
      writeSafetensors(path.join(d, "model-00002-of-00002.safetensors"), names.slice(half).map((n) => m.get(n)!));
      names.forEach((n, i) => (map[n] = i < half ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors"));
      fs.writeFileSync(path.join(d, "model.safetensors.index.json"), JSON.stringify({ metadata: { total_size: 0 }, weight_map: map }));
      fs.rmSync(path.join(d, "model.safetensors"));
    });
    const a = loadModelDir(dir).model, b = loadModelDir(FIXTURE("tiny-small-vocab")).model;
    const la = a.forward([1, 5, 9], a.newCache(), { allLogits: true }).slice();
    const lb = b.forward([1, 5, 9], b.newCache(), { allLogits: true }).slice();
    expect(Array.from(la)).toEqual(Array.from(lb));
    fs.rmSync(dir, { recursive: true });
  });
});
