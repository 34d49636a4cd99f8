// K-quant GGUF files against llama.cpp (fixtures/gguf/tiny-kq*, made by make_tiny_kq.mjs, see FIXTURES.md):
// - writing: quantizeTensors of the tiny-kq checkpoint (regenerated from its config and seed) gives every
//   tensor the type llama-quantize gave it and the same bytes (SHA-256), for Q4_K_M, Q4_K_S, Q5_K_M, Q6_K, Q4_0,
//   and dequantizeRow of those bytes equals ggml's dequantize_row_* bit for bit (SHA-256 of the float32s);
// - reading: llama-quantize's Q4_K_M file loads with its Q4_K / Q5_K / Q6_K / Q5_0 tensors kept quantized; its
//   Q3_K_M and Q4_1 files load with Q3_K and Q4_1 blocks transcoded to q6_k and q5_1, every tensor dequantizing
//   bit for bit as ggml's dequantize_row_* of the file's own blocks.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { initCheckpoint } from "../../src/models/init.js";
import { parseConfig, type OpenELMConfig } from "../../src/models/config.js";
import { readCheckpoint } from "../../src/io/model_dir.js";
import { FILE_TYPE, quantizeTensors, targetDtype, type WeightType } from "../../src/io/gguf_quantize.js";
import { expectedShapes } from "../../src/models/load.js";
import { resolveConfig } from "../../src/models/registry.js";
import { ggufTensorsFromHF, loadGgufCheckpoint } from "../../src/io/gguf_openelm.js";
import type { QuantDType, StoredTensor } from "../../src/tensor/tensor.js";
import { dequantizeRow, q4_1ToQ5_1 } from "../../src/kernels/quant.js";
import { q3kToQ6k } from "../../src/kernels/kquant.js";

const FX = new URL("../fixtures/gguf/", import.meta.url).pathname;
interface TensorRecord { type: string; ne: number[]; sha256: string; dequant_sha256?: string }
const DTYPE: Record<string, QuantDType> = { Q8_0: "q8_0", Q4_0: "q4_0", Q5_0: "q5_0", Q5_1: "q5_1", Q4_K: "q4_k", Q5_K: "q5_k", Q6_K: "q6_k" };
const expected = JSON.parse(fs.readFileSync(path.join(FX, "tiny-kq-tensors.json"), "utf-8")) as
  { seed: number; files: Record<string, { file_type: number; tensors: Record<string, TensorRecord> }> };

let config: OpenELMConfig;
let tensors: Map<string, StoredTensor>;
let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kq-"));
  config = parseConfig(JSON.parse(fs.readFileSync(path.join(FX, "tiny-kq/config.json"), "utf-8")));
  initCheckpoint(config, tmp, "f32", expected.seed);
  tensors = readCheckpoint(tmp).tensors;
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("quantizing tiny-kq as llama-quantize does", () => {
  for (const type of ["q4_k_m", "q4_k_s", "q5_k_m", "q6_k", "q4_0"] as WeightType[]) {
    test(`${type}: every tensor's type and bytes equal llama-quantize's`, () => {
      const want = expected.files[type];
      expect(FILE_TYPE[type]).toBe(want.file_type);
      const got = ggufTensorsFromHF(config, quantizeTensors(tensors, type));
      expect(got.map((t) => t.name).sort()).toEqual(Object.keys(want.tensors).sort());
      const typeName = (id: number) => ({ 0: "F32", 2: "Q4_0", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K" } as Record<number, string>)[id];
      for (const t of got) {
        const w = want.tensors[t.name];
        expect(`${t.name} ${typeName(t.type)} [${t.ne.join(", ")}]`).toBe(`${t.name} ${w.type} [${w.ne.join(", ")}]`);
        expect(createHash("sha256").update(t.data).digest("hex"), `${t.name} (${w.type}) bytes`).toBe(w.sha256);
        if (!w.dequant_sha256) continue;
        const K = t.ne[0], rows = t.ne.slice(1).reduce((a, b) => a * b, 1), deq = new Float32Array(K * rows);
        for (let r = 0; r < rows; r++) dequantizeRow(DTYPE[w.type], t.data, r, K, deq.subarray(r * K, (r + 1) * K));
        expect(createHash("sha256").update(new Uint8Array(deq.buffer)).digest("hex"), `${t.name} (${w.type}) dequantized`).toBe(w.dequant_sha256);
      }
    }, 30_000);
  }
});

describe("reading llama-quantize's Q4_K_M file", () => {
  test("tensors keep their K-quant / q5_0 / q6_k types and bytes", () => {
    const ck = loadGgufCheckpoint(path.join(FX, "tiny-kq-q4_k_m.gguf"));
    try {
      const want = expected.files.q4_k_m.tensors;
      const byType = (n: string) => ck.tensors.get(n)!.dtype;
      expect(byType("transformer.token_embeddings.weight")).toBe("q6_k");
      expect(byType("transformer.layers.0.attn.qkv_proj.weight")).toBe("q5_k");
      expect(byType("transformer.layers.0.attn.out_proj.weight")).toBe("q5_0");
      expect(byType("transformer.layers.6.attn.out_proj.weight")).toBe("q4_k");
      expect(byType("transformer.layers.0.ffn.proj_1.weight")).toBe("q4_k");
      const qkv = ck.tensors.get("transformer.layers.0.attn.qkv_proj.weight")!;
      expect(createHash("sha256").update(qkv.data).digest("hex")).toBe(want["blk.0.attn_qkv.weight"].sha256);
    } finally { ck.close(); }
  });
});

describe("reading llama-quantize's Q3_K_M and Q4_1 files (types kept transcoded)", () => {
  const DT: Record<number, QuantDType> = { 2: "q4_0", 6: "q5_0", 7: "q5_1", 8: "q8_0", 12: "q4_k", 13: "q5_k", 14: "q6_k" };
  for (const [type, from, to] of [["q3_k_m", "Q3_K", "q6_k"], ["q4_1", "Q4_1", "q5_1"]]) {
    test(`${type}: ${from} read as ${to}, every tensor dequantized bit for bit as ggml's`, () => {
      const ck = loadGgufCheckpoint(path.join(FX, `tiny-kq-${type}.gguf`));
      try {
        const want = expected.files[type].tensors;
        const got = ggufTensorsFromHF(config, ck.tensors);
        expect(got.map((t) => t.name).sort()).toEqual(Object.keys(want).sort());
        let transcoded = 0;
        for (const t of got) {
          const w = want[t.name];
          if (w.type === from) { expect(DT[t.type], t.name).toBe(to); transcoded++; }
          if (!w.dequant_sha256) continue;
          const K = t.ne[0], rows = t.ne.slice(1).reduce((a, b) => a * b, 1), deq = new Float32Array(K * rows);
          for (let r = 0; r < rows; r++) dequantizeRow(DT[t.type], t.data, r, K, deq.subarray(r * K, (r + 1) * K));
          expect(createHash("sha256").update(new Uint8Array(deq.buffer)).digest("hex"), `${t.name} (${w.type}) dequantized`).toBe(w.dequant_sha256);
        }
        expect(transcoded).toBeGreaterThan(0);
      } finally { ck.close(); }
    }, 30_000);
  }

  test("a block buffer of the wrong length is a clear error", () => {
    expect(() => q3kToQ6k(new Uint8Array(111))).toThrow(/q3_k: 111 bytes is not a whole number of 110-byte blocks/);
    expect(() => q4_1ToQ5_1(new Uint8Array(30))).toThrow(/q4_1: 30 bytes is not a whole number of 20-byte blocks/);
  });
});

describe("llama-quantize's type mix on OpenELM-270M's shapes (16 layers, D = 1280)", () => {
  // From llama-quantize's files of a 270M-shaped model (fixtures/gguf/openelm-270m-types.json, FIXTURES.md).
  const want = JSON.parse(fs.readFileSync(path.join(FX, "openelm-270m-types.json"), "utf-8")).files as Record<string, Record<string, string>>;
  const c = resolveConfig("OpenELM-270M");
  const PARTS: Record<string, string[]> = {
    "attn.qkv_proj.weight": ["attn_qkv.weight"], "attn.out_proj.weight": ["attn_output.weight"],
    "ffn.proj_1.weight": ["ffn_gate.weight", "ffn_up.weight"], "ffn.proj_2.weight": ["ffn_down.weight"],
  };
  const ggufNames = (hf: string): string[] => {
    if (hf === "transformer.token_embeddings.weight") return ["token_embd.weight"];
    const m = /^transformer\.layers\.(\d+)\.(.+)$/.exec(hf)!;
    return PARTS[m[2]].map((p) => `blk.${m[1]}.${p}`);
  };
  for (const type of ["q4_k_m", "q6_k", "q4_0"] as WeightType[]) {
    test(type, () => {
      const got: Record<string, string> = {};
      for (const [name, shape] of expectedShapes(c)) {
        if (shape.length !== 2) continue;
        const dt = targetDtype(name, shape, type, true, c.num_transformer_layers).toUpperCase();
        for (const g of ggufNames(name)) got[g] = dt;
      }
      expect(got).toEqual(want[type]);
    });
  }
});
