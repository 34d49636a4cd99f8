// The GGUF container against files llama.cpp wrote (test/fixtures/gguf, from ../shared/fixtures/gguf):
// header, metadata and tensor directory as listed in each *.layout.json; malformed files get pinned errors.
import { afterAll, describe, expect, test } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { GgufType, encodeGgufHeader, ggufTypeName, openGguf, parseGgufHeader, writeGgufFile, type GgufArray, type GgufKV } from "../../src/io/gguf.js";
import { dequantizeRow } from "../../src/kernels/quant.js";
import { CheckpointError } from "../../src/errors.js";

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), "gguf-"));
afterAll(() => fs.rmSync(TMP, { recursive: true, force: true }));
const FX = new URL("../fixtures/gguf/", import.meta.url).pathname;
const FILES = ["tiny-32k-q8_0.gguf", "tiny-32k-q4_0.gguf"];

interface LayoutKV { key: string; type: string; value?: unknown; length?: number; first_8?: unknown[] }
interface Layout {
  version: number; tensor_count: number; kv_count: number; alignment: number; data_section_offset: number; file_size: number;
  metadata: LayoutKV[]; tensors: Array<{ name: string; type: string; ne: number[]; offset: number; n_bytes: number }>;
}

function typeString(kv: GgufKV): string {
  if (kv.type !== GgufType.ARRAY) return ggufTypeName(kv.type);
  return `ARRAY[${ggufTypeName((kv.value as GgufArray).itemType)}]`;
}

describe("GGUF reader on llama.cpp files", () => {
  for (const f of FILES) {
    test(`${f}: header, metadata and tensor directory equal the layout listing`, () => {
      const layout = JSON.parse(fs.readFileSync(FX + f.replace(".gguf", ".layout.json"), "utf-8")) as Layout;
      const r = openGguf(FX + f);
      try {
        const h = r.header;
        expect(h.version).toBe(layout.version);
        expect(h.fileSize).toBe(layout.file_size);
        expect(h.alignment).toBe(layout.alignment);
        expect(h.dataOffset).toBe(layout.data_section_offset);
        expect(h.metadata.length).toBe(layout.kv_count);
        expect(h.tensors.length).toBe(layout.tensor_count);
        layout.metadata.forEach((want, i) => {
          const kv = h.metadata[i];
          expect(kv.key).toBe(want.key);
          expect(typeString(kv).replace("FLOAT32", "FLOAT32")).toBe(want.type);
          if (kv.type === GgufType.ARRAY) {
            const items = (kv.value as GgufArray).items;
            expect(items.length).toBe(want.length);
            if (want.first_8) items.slice(0, 8).forEach((x, k) => typeof x === "number"
              ? expect(x).toBeCloseTo(want.first_8![k] as number, 6) : expect(x).toEqual(want.first_8![k]));
            else expect(items).toEqual(want.value);
          } else if (kv.type === GgufType.FLOAT32) {
            expect(kv.value).toBeCloseTo(want.value as number, 12);
          } else {
            expect(kv.value).toEqual(want.value);
          }
        });
        layout.tensors.forEach((want, i) => {
          const t = h.tensors[i];
          expect({ name: t.name, type: t.typeName, ne: t.ne, offset: t.offset, n_bytes: t.nBytes })
            .toEqual({ name: want.name, type: want.type, ne: want.ne, offset: want.offset, n_bytes: want.n_bytes });
        });
        const tok = h.metadata.find((kv) => kv.key === "tokenizer.ggml.tokens")!.value as GgufArray;
        expect(tok.items.slice(0, 3)).toEqual(["<unk>", "<s>", "</s>"]);
      } finally {
        r.close();
      }
    });
  }
});

describe("GGUF writer", () => {
  test("every value type, arrays (nested too), alignment: write then read gives the same entries and bytes", () => {
    const md: GgufKV[] = [
      { key: "general.alignment", type: GgufType.UINT32, value: 64 },
      { key: "u8", type: GgufType.UINT8, value: 250 }, { key: "i8", type: GgufType.INT8, value: -5 },
      { key: "u16", type: GgufType.UINT16, value: 65000 }, { key: "i16", type: GgufType.INT16, value: -30000 },
      { key: "u32", type: GgufType.UINT32, value: 4e9 }, { key: "i32", type: GgufType.INT32, value: -2e9 },
      { key: "f32", type: GgufType.FLOAT32, value: 0.5 }, { key: "bool", type: GgufType.BOOL, value: true },
      { key: "str", type: GgufType.STRING, value: "héllo ▁" },
      { key: "u64", type: GgufType.UINT64, value: 2n ** 60n }, { key: "i64", type: GgufType.INT64, value: -(2n ** 62n) },
      { key: "f64", type: GgufType.FLOAT64, value: Math.PI },
      { key: "arr", type: GgufType.ARRAY, value: { itemType: GgufType.INT32, items: [1, -2, 3] } },
      { key: "nested", type: GgufType.ARRAY, value: { itemType: GgufType.ARRAY, items: [{ itemType: GgufType.STRING, items: ["a", "bc"] }] } },
    ];
    const a = new Uint8Array(40).map((_, i) => i);
    const b = new Uint8Array(4 * 3).map((_, i) => 255 - i);
    const file = path.join(fs.mkdtempSync(path.join(TMP, "t-")), "t.gguf");
    writeGgufFile(file, md, [
      { name: "a", type: 1, ne: [20], data: a },
      { name: "b", type: 0, ne: [3], data: b },
    ], 64);
    const bytes = fs.readFileSync(file);
    const h = parseGgufHeader(bytes, file);
    expect(h.alignment).toBe(64);
    expect(h.metadata).toEqual(md);
    expect(h.tensors.map((t) => [t.name, t.typeName, t.ne, t.offset])).toEqual([["a", "F16", [20], 0], ["b", "F32", [3], 64]]);
    expect(h.dataOffset % 64).toBe(0);
    const r = openGguf(file);
    expect(Array.from(r.tensorBytes(r.header.tensors[0]))).toEqual(Array.from(a));
    expect(Array.from(r.tensorBytes(r.header.tensors[1]))).toEqual(Array.from(b));
    r.close();
  });
});

describe("GGUF reader on malformed files", () => {
  // A small valid file to damage: one key, two tensors.
  const md: GgufKV[] = [{ key: "general.architecture", type: GgufType.STRING, value: "openelm" }];
  const { header } = encodeGgufHeader(md, [{ name: "w", type: 0, ne: [4, 2], nBytes: 32 }, { name: "q", type: 8, ne: [32], nBytes: 34 }]);
  const good = new Uint8Array(header.length + 32 + 64);
  good.set(header, 0);
  const tensorInfoAt = header.indexOf(0x77 /* "w" */, 24 + 8 + 20) - 8; // name length of tensor "w"
  const dv = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
  const damaged = (edit: (b: Uint8Array) => void) => { const b = good.slice(); edit(b); return b; };
  const cases: Array<[string, Uint8Array, string]> = [
    ["truncated header", good.subarray(0, 10), "f.gguf: truncated: 10 bytes, a GGUF header needs at least 24"],
    ["truncated metadata", good.subarray(0, 30), "f.gguf: tensor_count 2 is impossible in a file of 30 bytes"],
    ["truncated tensor directory", good.subarray(0, header.length - 40), `f.gguf: tensor #1 name at byte ${header.length - 48} has length 1, past the end of the file (${header.length - 40} bytes)`],
    ["truncated data section", good.subarray(0, header.length + 40), `f.gguf: tensor "q" data [32, 66) of the data section lies beyond the end of the file (data section has 40 bytes)`],
    ["bad magic", damaged((b) => b.set([0x47, 0x47, 0x4d, 0x4c], 0)), `f.gguf: bad magic "GGML" (expected "GGUF"): not a GGUF file`],
    ["bad version", damaged((b) => dv(b).setUint32(4, 1, true)), "f.gguf: unsupported GGUF version 1 (expected 3)"],
    ["big-endian file", damaged((b) => dv(b).setUint32(4, 3, false)), "f.gguf: big-endian GGUF (version 3 byte-swapped) is not supported"],
    ["absurd tensor count", damaged((b) => dv(b).setBigUint64(8, 1n << 40n, true)), `f.gguf: tensor_count 1099511627776 is impossible in a file of ${good.length} bytes`],
    ["count beyond 2^53", damaged((b) => dv(b).setBigUint64(16, 1n << 63n, true)), "f.gguf: kv_count at byte 16 is 9223372036854775808, which is absurd"],
    ["absurd string length", damaged((b) => dv(b).setBigUint64(24, 1n << 50n, true)), `f.gguf: metadata key #0 at byte 24 has length 1125899906842624, past the end of the file (${good.length} bytes)`],
    ["unknown value type", damaged((b) => dv(b).setUint32(24 + 8 + 20, 13, true)), `f.gguf: metadata "general.architecture" at byte 52 has unknown value type 13`],
    ["too many dimensions", damaged((b) => dv(b).setUint32(tensorInfoAt + 9, 5, true)), `f.gguf: tensor "w" has 5 dimensions (expected 1 to 4)`],
    ["unknown tensor type", damaged((b) => dv(b).setUint32(tensorInfoAt + 9 + 4 + 16, 99, true)), `f.gguf: tensor "w" at byte ${tensorInfoAt + 29} has unknown ggml type 99`],
    ["absurd shape", damaged((b) => dv(b).setBigUint64(tensorInfoAt + 13, 1n << 52n, true)), `f.gguf: tensor "w" has shape [4503599627370496, 2], too large for a file of ${good.length} bytes`],
    ["offset beyond the file", damaged((b) => dv(b).setBigUint64(tensorInfoAt + 33, 1024n, true)), `f.gguf: tensor "w" data [1024, 1056) of the data section lies beyond the end of the file (data section has 96 bytes)`],
    ["misaligned offset", damaged((b) => dv(b).setBigUint64(tensorInfoAt + 33, 4n, true)), `f.gguf: tensor "w" offset 4 is not a multiple of the alignment 32`],
    // Tensor "q" (1-D, 32 weights) follows "w"'s 41-byte entry: its ne[0] at +13, its type at +21.
    ["K-quant rows not a multiple of 256", damaged((b) => dv(b).setUint32(tensorInfoAt + 41 + 21, 12, true)), `f.gguf: tensor "q" of type Q4_K has ne[0] = 32, not a multiple of its block size 256`],
    ["K-quant blocks beyond the data", damaged((b) => { dv(b).setBigUint64(tensorInfoAt + 41 + 13, 256n, true); dv(b).setUint32(tensorInfoAt + 41 + 21, 14, true); }),
      `f.gguf: tensor "q" data [32, 242) of the data section lies beyond the end of the file (data section has 96 bytes)`],
  ];
  test("the undamaged file parses", () => {
    expect(parseGgufHeader(good, "f.gguf").tensors.map((t) => t.name)).toEqual(["w", "q"]);
  });
  for (const [what, bytes, message] of cases) {
    test(`${what} -> CheckpointError`, () => {
      let err: unknown;
      try { parseGgufHeader(bytes, "f.gguf"); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(CheckpointError);
      expect((err as Error).message).toBe(message);
    });
  }
  test("truncated real file through openGguf", () => {
    const dir = fs.mkdtempSync(path.join(TMP, "t-"));
    const file = path.join(dir, "cut.gguf");
    fs.writeFileSync(file, fs.readFileSync(FX + "tiny-32k-q4_0.gguf").subarray(0, 5_000_000));
    expect(() => openGguf(file)).toThrow(new CheckpointError(`${file}: tensor "token_embd.weight" data [512, 4352512) of the data section lies beyond the end of the file (data section has 4272576 bytes)`));
  });
});

describe("Q6_K", () => {
  test("dequantization equals gguf-py's (fixture q6_k-blocks.json), bit for bit", () => {
    const fx = JSON.parse(fs.readFileSync(FX + "q6_k-blocks.json", "utf-8"));
    const blocks = Uint8Array.from(Buffer.from(fx.blocks_hex, "hex"));
    const want = new Float32Array(Uint8Array.from(Buffer.from(fx.float32_bits_hex, "hex")).buffer);
    const got = new Float32Array(fx.n);
    dequantizeRow("q6_k", blocks, 0, fx.n, got);
    expect(Array.from(got)).toEqual(Array.from(want));
  });
});
