// llama.cpp's LoRA GGUF: metadata as llama.cpp's adapter loader checks it, and tensors applied the way llama.cpp
// applies them (W_gguf + alpha / r · lora_b · lora_a per GGUF base tensor, r from lora_a's ne[1]) reproduce our
// merged model's GGUF tensors, so names, transposition and the ffn_gate / ffn_up split are exact.
// (That llama-cli --lora gives the same greedy tokens as --adapter is checked by hand when llama.cpp is built.)
import { describe, expect, test } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ggufGet, openGguf, type GgufReader } from "../../src/io/gguf.js";
import { LORA_TARGETS, readPeftAdapter, type PeftAdapter } from "../../src/io/peft_adapter.js";
import { writeLoraGguf } from "../../src/io/gguf_lora.js";
import { ggufTensorsFromHF } from "../../src/io/gguf_openelm.js";
import { readCheckpoint } from "../../src/io/model_dir.js";
import { mergeAdapterTensors } from "../../src/models/adapter.js";
import { encodeAs } from "../../src/io/gguf_quantize.js";
import { toFloat32 } from "../../src/tensor/tensor.js";
import { parseConfig } from "../../src/models/config.js";

const MODEL = new URL("../fixtures/openelm/tiny-small-vocab", import.meta.url).pathname;
const TRAIN = new URL("../fixtures/openelm-train/tiny-small-vocab", import.meta.url).pathname;

function f32(r: GgufReader, name: string): Float32Array {
  const t = r.header.tensors.find((x) => x.name === name);
  if (!t) throw new Error(`no tensor ${name}`);
  expect(t.typeName).toBe("F32");
  const b = r.tensorBytes(t);
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
}

function check(adapter: PeftAdapter, label: string) {
  const ck = readCheckpoint(MODEL);
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "lora-gguf-")), "a.gguf");
  writeLoraGguf(file, adapter, ck.config, { type: "f32" });
  const r = openGguf(file);
  const md = (k: string) => ggufGet(r.header, k)?.value;
  expect([md("general.architecture"), md("general.type"), md("adapter.type"), md("adapter.lora.alpha")]).toEqual(["openelm", "adapter", "lora", 8]);
  const merged = mergeAdapterTensors(ck.tensors, adapter, toFloat32, (_b, f) => encodeAs("f32", f));
  const base = new Map(ggufTensorsFromHF(ck.config, ck.tensors).map((t) => [t.name, t]));
  const want = new Map(ggufTensorsFromHF(ck.config, merged).map((t) => [t.name, t]));
  const loraNames = r.header.tensors.map((t) => t.name);
  expect(loraNames.length).toBe(5 * 5 * 2); // 5 layers × (qkv, output, gate, up, down) × (a, b)
  for (const name of loraNames.filter((n) => n.endsWith(".lora_a"))) {
    const w = name.slice(0, -".lora_a".length);
    const ta = r.header.tensors.find((x) => x.name === name)!, tb = r.header.tensors.find((x) => x.name === `${w}.lora_b`)!;
    const bt = base.get(w)!;
    const [inF, outF] = bt.ne, rank = ta.ne[1];
    expect(ta.ne, `${label} ${name}`).toEqual([inF, rank]);      // llama.cpp: model ne[0] == a ne[0], model ne[1] == b ne[1], a ne[1] == b ne[0]
    expect(tb.ne, `${label} ${w}.lora_b`).toEqual([rank, outF]);
    const A = f32(r, name), B = f32(r, `${w}.lora_b`), W = new Float32Array(bt.data.buffer.slice(bt.data.byteOffset, bt.data.byteOffset + bt.data.byteLength));
    const M = want.get(w)!, Mv = new Float32Array(M.data.buffer.slice(M.data.byteOffset, M.data.byteOffset + M.data.byteLength));
    const s = 8 / rank;
    let err = 0;
    for (let o = 0; o < outF; o++)
      for (let i = 0; i < inF; i++) {
        let d = 0;
        for (let k = 0; k < rank; k++) d += B[o * rank + k] * A[k * inF + i];
        err = Math.max(err, Math.abs(W[o * inF + i] + s * d - Mv[o * inF + i]));
      }
    expect(err, `${label} ${w}`).toBeLessThan(1e-5);
  }
  r.close();
}

describe("LoRA GGUF for llama.cpp", () => {
  const config = parseConfig(JSON.parse(fs.readFileSync(`${MODEL}/config.json`, "utf8")));
  test("tensors applied as llama.cpp does give the merged weights", () => {
    check(readPeftAdapter(`${TRAIN}/lora-adapter`, config), "lora");
  });

  test("rsLoRA scaling (alpha / sqrt(r)) is folded into lora_b", () => {
    const a = readPeftAdapter(`${TRAIN}/lora-adapter`, config);
    for (const l of a.layers) for (const t of LORA_TARGETS) if (l[t]) l[t]!.scaling = 8 / Math.sqrt(4);
    check(a, "rslora");
  });

  test("DoRA is refused with a one-line reason", () => {
    expect(() => writeLoraGguf(path.join(os.tmpdir(), "never.gguf"), readPeftAdapter(`${TRAIN}/dora-adapter`, config), config))
      .toThrow(/a DoRA adapter \(use_dora\) has no llama\.cpp LoRA GGUF form; merge it into the model instead/);
  });
});
