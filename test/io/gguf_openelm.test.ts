// OpenELM <-> GGUF against llama.cpp's own files (test/fixtures/gguf, from ../shared/fixtures/gguf): the config
// and HF-named tensors read from them, our quantizer's bytes equal to llama-quantize's, our writer's metadata
// and tensors equal to the converter's, and the embedded vocabulary equal to the Llama-2 tokenizer.model.
import { afterAll, describe, expect, test } from "vitest";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { GgufType, openGguf, writeGgufFile, type GgufArray } from "../../src/io/gguf.js";
import { openGgufCheckpoint, readGguf, writeGguf, sizeLabel } from "../../src/io/gguf_openelm.js";
import { quantizeTensors } from "../../src/io/gguf_quantize.js";
import { readTokenizerModelVocab, tokenizerModelFromVocab, BUNDLED_TOKENIZER_MODEL } from "../../src/io/gguf_vocab.js";
import { openCheckpointDir, readCheckpoint } from "../../src/io/model_dir.js";
import { expectedShapes } from "../../src/models/load.js";
import { layerSizes, parameterCount } from "../../src/models/config.js";
import { CheckpointError } from "../../src/errors.js";
import type { StoredTensor } from "../../src/tensor/tensor.js";

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), "gguf-openelm-"));
afterAll(() => fs.rmSync(TMP, { recursive: true, force: true }));
const FX = new URL("../fixtures/gguf/", import.meta.url).pathname;
const TINY = new URL("../fixtures/openelm/tiny-32k", import.meta.url).pathname;
const tmp = () => fs.mkdtempSync(path.join(TMP, "t-"));

interface LayoutTensor { name: string; type: string; ne: number[] }
interface Layout { metadata: Array<{ key: string; type: string; value?: unknown; length?: number }>; tensors: LayoutTensor[] }
const layoutOf = (f: string): Layout => JSON.parse(fs.readFileSync(FX + f.replace(".gguf", ".layout.json"), "utf-8"));

/** HF name of a GGUF tensor (ffn_gate/ffn_up both map into proj_1, with a row range). */
function hfSlice(gg: string, F: (i: number) => number): { hf: string; rows?: [number, number] } {
  if (gg === "token_embd.weight") return { hf: "transformer.token_embeddings.weight" };
  if (gg === "output_norm.weight") return { hf: "transformer.norm.weight" };
  const m = /^blk\.(\d+)\.(.+)$/.exec(gg)!;
  const i = Number(m[1]), p = `transformer.layers.${i}.`;
  const map: Record<string, string> = {
    "attn_norm.weight": "attn_norm.weight", "attn_qkv.weight": "attn.qkv_proj.weight", "attn_q_norm.weight": "attn.q_norm.weight",
    "attn_k_norm.weight": "attn.k_norm.weight", "attn_output.weight": "attn.out_proj.weight", "ffn_norm.weight": "ffn_norm.weight",
    "ffn_down.weight": "ffn.proj_2.weight",
  };
  if (m[2] === "ffn_gate.weight") return { hf: p + "ffn.proj_1.weight", rows: [0, F(i)] };
  if (m[2] === "ffn_up.weight") return { hf: p + "ffn.proj_1.weight", rows: [F(i), 2 * F(i)] };
  return { hf: p + map[m[2]] };
}

const rowBytes = (t: StoredTensor) => t.data.length / t.shape[0];
function rowsOf(t: StoredTensor, rows?: [number, number]): Uint8Array {
  return rows ? t.data.subarray(rows[0] * rowBytes(t), rows[1] * rowBytes(t)) : t.data;
}

describe("reading llama.cpp's OpenELM GGUF files", () => {
  const f32 = readCheckpoint(TINY);
  for (const [file, matrixType] of [["tiny-32k-q8_0.gguf", "q8_0"], ["tiny-32k-q4_0.gguf", "q4_0"]] as const) {
    test(`${file}: config, HF names, shapes and stored dtypes`, () => {
      const ck = readGguf(FX + file);
      const c = ck.config, want = f32.config;
      for (const k of ["vocab_size", "num_transformer_layers", "model_dim", "head_dim", "num_query_heads", "num_kv_heads",
        "rope_freq_constant", "max_context_length", "normalize_qk_projections", "share_input_output_layers", "bos_token_id", "eos_token_id"] as const) {
        expect(c[k], k).toEqual(want[k]);
      }
      for (let i = 0; i < c.num_transformer_layers; i++) expect(layerSizes(c, i)).toEqual(layerSizes(want, i));
      const shapes = expectedShapes(want);
      expect([...ck.tensors.keys()].sort()).toEqual([...shapes.keys()].sort());
      for (const [name, t] of ck.tensors) {
        expect(t.shape, name).toEqual(shapes.get(name));
        const dtype = t.shape.length === 1 ? "f32" : name === "transformer.token_embeddings.weight" ? "q8_0" : matrixType;
        expect(t.dtype, name).toBe(dtype);
      }
      expect(ck.fileType).toBe(matrixType === "q8_0" ? 7 : 2);
      expect(ck.vocab!.tokens.length).toBe(32000);
    });
  }

  test("norm weights read from the GGUF equal the F32 checkpoint's exactly", () => {
    const ck = readGguf(FX + "tiny-32k-q4_0.gguf");
    for (const [name, t] of ck.tensors) if (t.shape.length === 1) expect(Buffer.compare(t.data, f32.tensors.get(name)!.data), name).toBe(0);
  });

  test("another architecture, a missing tensor, an unexpected tensor or an unsupported tensor type is refused with a pinned message", () => {
    const dir = tmp();
    const r = openGguf(FX + "tiny-32k-q8_0.gguf");
    const tensors = r.header.tensors.map((t) => ({ name: t.name, type: t.type, ne: t.ne, data: r.tensorBytes(t) }));
    const md = r.header.metadata;
    r.close();
    const llama = path.join(dir, "llama.gguf");
    writeGgufFile(llama, md.map((kv) => kv.key === "general.architecture" ? { ...kv, value: "llama" } : kv), tensors);
    expect(() => readGguf(llama)).toThrow(new CheckpointError(`${llama}: general.architecture is "llama", expected "openelm"`));
    const missing = path.join(dir, "missing.gguf");
    writeGgufFile(missing, md, tensors.filter((t) => t.name !== "blk.3.ffn_up.weight"));
    expect(() => readGguf(missing)).toThrow(new CheckpointError(`${missing}: missing tensor "blk.3.ffn_up.weight"`));
    const extra = path.join(dir, "extra.gguf");
    writeGgufFile(extra, md, [...tensors, { ...tensors[0], name: "blk.6.attn_norm.weight" }]);
    expect(() => readGguf(extra)).toThrow(new CheckpointError(`${extra}: unexpected tensor "blk.6.attn_norm.weight" (not part of an OpenELM model)`));
    const q2k = path.join(dir, "q2_k.gguf");
    writeGgufFile(q2k, md, tensors.map((t) => t.name === "blk.0.attn_qkv.weight" ? { ...t, type: 10, ne: [256, 64], data: new Uint8Array(64 * 84) } : t));
    expect(() => readGguf(q2k)).toThrow(new CheckpointError(`${q2k}: tensor "blk.0.attn_qkv.weight" has type Q2_K; supported: F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q3_K, Q4_K, Q5_K, Q6_K, BF16`));
    const ck = readGguf(FX + "tiny-32k-q8_0.gguf");
    const out = path.join(dir, "x.gguf");
    expect(() => writeGguf(out, ck.config, new Map([...ck.tensors, ["transformer.extra.weight", ck.tensors.get("transformer.norm.weight")!]]), ck.vocab))
      .toThrow(new CheckpointError(`${out}: tensor "transformer.extra.weight" has no GGUF name (not part of an OpenELM model)`));
  });
});

describe("our quantizer and converter reproduce llama.cpp's bytes", () => {
  const f32 = readCheckpoint(TINY);
  const F = (i: number) => layerSizes(f32.config, i).ffnDim;
  for (const [file, type] of [["tiny-32k-q8_0.gguf", "q8_0"], ["tiny-32k-q4_0.gguf", "q4_0"]] as const) {
    test(`quantizeTensors(F32 tiny-32k, ${type}) equals ${file} tensor by tensor`, () => {
      const ours = quantizeTensors(f32.tensors, type);
      const r = openGguf(FX + file);
      try {
        for (const t of r.header.tensors) {
          const { hf, rows } = hfSlice(t.name, F);
          const mine = ours.get(hf)!;
          expect(mine.dtype.toUpperCase(), t.name).toBe(t.typeName);
          const a = rowsOf(mine, rows), b = r.tensorBytes(t);
          expect(a.length, t.name).toBe(b.length);
          let firstDiff = -1;
          for (let k = 0; k < a.length && firstDiff < 0; k++) if (a[k] !== b[k]) firstDiff = k;
          expect(firstDiff, `${t.name}: first differing byte`).toBe(-1);
        }
      } finally {
        r.close();
      }
    });
  }

  test("writeGguf of F32 tiny-32k converted to f16 is byte-identical to llama.cpp's f16 file (metadata, tensor order, types, shapes, bytes)", () => {
    const digests = JSON.parse(fs.readFileSync(FX + "tiny-32k-f16.tensor-sha256.json", "utf-8")).tensors as Record<string, { type: string; ne: number[]; sha256: string }>;
    const layout = layoutOf("tiny-32k-f16.gguf");
    const file = path.join(tmp(), "tiny-32k-f16.gguf");
    writeGguf(file, f32.config, quantizeTensors(f32.tensors, "f16"), readTokenizerModelVocab(BUNDLED_TOKENIZER_MODEL), { basename: "tiny", finetune: "32k", name: "Tiny 32k" });
    const r = openGguf(file);
    try {
      expect(r.header.tensors.map((t) => t.name)).toEqual(layout.tensors.map((t) => t.name));
      for (const t of r.header.tensors) {
        const d = digests[t.name];
        expect([t.typeName, t.ne], t.name).toEqual([d.type, d.ne]);
        expect(createHash("sha256").update(r.tensorBytes(t)).digest("hex"), t.name).toBe(d.sha256);
      }
      // Metadata: the converter's keys, types and values (tokenizer arrays: length), in its order.
      const mine = r.header.metadata;
      expect(mine.map((kv) => kv.key)).toEqual(layout.metadata.map((kv) => kv.key));
      layout.metadata.forEach((want, i) => {
        const kv = mine[i];
        const type = kv.type === GgufType.ARRAY ? `ARRAY[${Object.entries(GgufType).find(([, v]) => v === (kv.value as GgufArray).itemType)![0]}]` : Object.entries(GgufType).find(([, v]) => v === kv.type)![0];
        expect(type, want.key).toBe(want.type);
        if (want.length !== undefined) expect((kv.value as GgufArray).items.length, want.key).toBe(want.length);
        else if (kv.type === GgufType.FLOAT32) expect(kv.value as number).toBeCloseTo(want.value as number, 12);
        else expect(kv.type === GgufType.ARRAY ? (kv.value as GgufArray).items : kv.value, want.key).toEqual(want.value);
      });
      expect(r.header.dataOffset).toBe(727424);
      // Same names, order and values, so the whole file is llama.cpp's, byte for byte.
      const bytes = fs.readFileSync(file);
      const fx = JSON.parse(fs.readFileSync(FX + "tiny-32k-f16.tensor-sha256.json", "utf-8"));
      expect(createHash("sha256").update(bytes.subarray(0, 727424)).digest("hex")).toBe(fx.header_sha256);
      expect(bytes.length).toBe(fx.file_size);
      expect(createHash("sha256").update(bytes).digest("hex")).toBe(fx.file_sha256);
    } finally {
      r.close();
    }
  });

  test("size label like gguf-py", () => {
    expect(sizeLabel(parameterCount(f32.config))).toBe("5.0M");
    expect(sizeLabel(271_527_168)).toBe("272M");
    expect(sizeLabel(1_079_891_968)).toBe("1.1B");
  });
});

describe("write -> read round trip", () => {
  for (const type of ["q8_0", "q4_0", "f16", "bf16", "f32"] as const) {
    test(`${type}: identical tensors, config and vocabulary`, () => {
      const ck = readCheckpoint(TINY);
      const tensors = quantizeTensors(ck.tensors, type);
      const vocab = readTokenizerModelVocab();
      const file = path.join(tmp(), `rt-${type}.gguf`);
      writeGguf(file, ck.config, tensors, vocab);
      const back = readGguf(file);
      expect([...back.tensors.keys()].sort()).toEqual([...tensors.keys()].sort());
      for (const [name, t] of tensors) {
        const b = back.tensors.get(name)!;
        expect([b.dtype, b.shape], name).toEqual([t.dtype, t.shape]);
        expect(Buffer.compare(b.data, t.data), name).toBe(0);
      }
      for (let i = 0; i < ck.config.num_transformer_layers; i++) expect(layerSizes(back.config, i)).toEqual(layerSizes(ck.config, i));
      expect(back.vocab!.tokens).toEqual(vocab.tokens);
      expect(Array.from(back.vocab!.scores)).toEqual(Array.from(vocab.scores));
      expect(back.fileType).toBe({ q8_0: 7, q4_0: 2, f16: 1, bf16: 32, f32: 0 }[type]);
    });
  }
});

describe("tokenizer vocabulary", () => {
  test("the vocabulary read from tokenizer.model equals what llama.cpp's converter embedded", () => {
    const ours = readTokenizerModelVocab();
    const theirs = readGguf(FX + "tiny-32k-q8_0.gguf").vocab!;
    expect(ours.tokens).toEqual(theirs.tokens);
    expect(Array.from(ours.scores)).toEqual(Array.from(theirs.scores));
    expect(Array.from(ours.tokenTypes)).toEqual(Array.from(theirs.tokenTypes));
    expect([ours.bosId, ours.eosId]).toEqual([theirs.bosId, theirs.eosId]);
  });

  test("tokenizer.model rebuilt from the GGUF vocabulary is byte-identical to the Llama-2 tokenizer.model", () => {
    const vocab = readGguf(FX + "tiny-32k-q4_0.gguf").vocab!;
    const rebuilt = tokenizerModelFromVocab(vocab);
    expect(Buffer.compare(rebuilt, fs.readFileSync(BUNDLED_TOKENIZER_MODEL))).toBe(0);
  });
});


describe("lazily read tensors: any byte range straight from the file", () => {
  // Loaders fill their own memory piece by piece through readInto (no whole-tensor copy on the heap).
  const ranges = (n: number): Array<[number, number]> => [[0, n], [0, 1], [n - 1, n], [Math.floor(n / 3), Math.floor((2 * n) / 3) + 1]];
  const check = (tensors: Map<string, StoredTensor>) => {
    let withRange = 0;
    for (const t of tensors.values()) {
      if (!t.readInto) continue;
      withRange++;
      const data = t.data;
      for (const [a, b] of ranges(data.length)) {
        const into = new Uint8Array(b - a);
        t.readInto(a, into);
        expect(Buffer.from(into).equals(Buffer.from(data.subarray(a, b))), `${t.name} [${a}, ${b})`).toBe(true);
      }
      expect(() => t.readInto!(data.length - 1, new Uint8Array(2)), t.name).toThrow(/asked of/);
    }
    return withRange;
  };
  test("GGUF: every raw tensor, and proj_1 across ffn_gate | ffn_up", () => {
    const ck = openGgufCheckpoint(FX + "tiny-32k-q8_0.gguf");
    try {
      expect(check(ck.tensors)).toBe(ck.tensors.size);
      expect(ck.tensors.get("transformer.layers.0.ffn.proj_1.weight")!.readInto).toBeDefined();
    } finally { ck.close(); }
  });
  test("GGUF: Q3_K tensors (rewritten as q6_k at load) are read whole, through .data", () => {
    const ck = openGgufCheckpoint(FX + "tiny-kq-q3_k_m.gguf");
    try {
      const q6 = [...ck.tensors.values()].filter((t) => t.dtype === "q6_k");
      expect(q6.length).toBeGreaterThan(0);
      expect(q6.filter((t) => t.readInto).length).toBeLessThan(q6.length); // the Q3_K ones have none
      check(ck.tensors);
    } finally { ck.close(); }
  });
  test("safetensors", () => {
    const ck = openCheckpointDir(TINY);
    try { expect(check(ck.tensors)).toBe(ck.tensors.size); } finally { ck.close(); }
  });
});
