// PEFT adapter files: read the fixture adapters (written by PEFT's save_pretrained layout), write them back
// byte for byte, and reject malformed adapters with one line naming the file and the field.
import { describe, expect, test } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { adapterConfigText, newAdapterConfig, readPeftAdapter, writePeftAdapter, peftTensorName } from "../../src/io/peft_adapter.js";
import { readSafetensors, writeSafetensors } from "../../src/io/safetensors.js";
import { parseConfig } from "../../src/models/config.js";

const trainDir = (f: string) => new URL(`../fixtures/openelm-train/${f}`, import.meta.url).pathname;
const configOf = (f: string) => parseConfig(JSON.parse(fs.readFileSync(new URL(`../fixtures/openelm/${f}/config.json`, import.meta.url), "utf8")), "config.json");
const small = configOf("tiny-small-vocab");

function tmp(): string { return fs.mkdtempSync(path.join(os.tmpdir(), "peft-")); }

/** A copy of a fixture adapter whose config and tensors `edit` may change. */
function variant(kind: "lora" | "dora", edit: (cfg: Record<string, unknown>, t: Map<string, import("../../src/tensor/tensor.js").StoredTensor>) => void): string {
  const src = trainDir(`tiny-small-vocab/${kind}-adapter`), dir = tmp();
  const cfg = JSON.parse(fs.readFileSync(`${src}/adapter_config.json`, "utf8"));
  const { tensors } = readSafetensors(`${src}/adapter_model.safetensors`);
  edit(cfg, tensors);
  fs.writeFileSync(`${dir}/adapter_config.json`, JSON.stringify(cfg));
  writeSafetensors(`${dir}/adapter_model.safetensors`, tensors.values());
  return dir;
}

describe("PEFT adapter files", () => {
  for (const kind of ["lora", "dora"] as const) {
    test(`${kind}: read, then written back byte for byte`, () => {
      const src = trainDir(`tiny-small-vocab/${kind}-adapter`);
      const a = readPeftAdapter(src, small);
      expect(a.useDora).toBe(kind === "dora");
      const m = a.layers[2].qkv_proj!;
      expect([m.r, m.out, m.in, m.scaling]).toEqual([4, (6 + 2 * 2) * small.head_dim, 80, 2]); // layer 2: 6 query + 2·2 kv heads
      expect(m.magnitude === null).toBe(kind === "lora");
      const out = tmp();
      writePeftAdapter(out, a);
      for (const f of ["adapter_config.json", "adapter_model.safetensors"])
        expect(Buffer.compare(fs.readFileSync(`${out}/${f}`), fs.readFileSync(`${src}/${f}`)), f).toBe(0);
      expect(fs.readdirSync(out).sort()).toEqual(["adapter_config.json", "adapter_model.safetensors"]); // no temp files left
    });
  }

  test("a new config has PEFT's fields and writes like the fixture's", () => {
    const cfg = newAdapterConfig({ r: 4, alpha: 8, useDora: true, baseModel: "../../../openelm/tiny-small-vocab" });
    expect(adapterConfigText(cfg)).toBe(fs.readFileSync(trainDir("tiny-small-vocab/dora-adapter/adapter_config.json"), "utf8"));
  });

  test("older files with lora_magnitude_vector.weight are read", () => {
    const dir = variant("dora", (_c, t) => {
      const name = peftTensorName(0, "proj_2", "magnitude");
      t.set(`${name}.weight`, { ...t.get(name)!, name: `${name}.weight` });
      t.delete(name);
    });
    expect(readPeftAdapter(dir, small).layers[0].proj_2!.magnitude!.length).toBe(80);
  });

  const bad: Array<[string, "lora" | "dora", (c: Record<string, unknown>, t: Map<string, any>) => void, RegExp]> = [
    ["missing config key", "lora", (c) => { delete c.r; }, /adapter_config\.json: missing key "r"$/],
    ["unknown target module", "lora", (c) => { c.target_modules = ["qkv_proj", "q_proj"]; }, /adapter_config\.json: target_modules: unknown module "q_proj"/],
    ["wrong rank in a tensor", "lora", (_c, t) => {
      const n = peftTensorName(1, "out_proj", "lora_A"), x = t.get(n)!;
      t.set(n, { ...x, shape: [3, 60], data: x.data.subarray(0, 3 * 60 * 4) });
    }, /adapter_model\.safetensors: tensor "base_model\.model\.transformer\.layers\.1\.attn\.out_proj\.lora_A\.weight" has shape \[3,60\], expected \[4,60\] \(the rank in .*adapter_config\.json is 4\)$/],
    ["missing tensor", "dora", (_c, t) => { t.delete(peftTensorName(4, "proj_1", "magnitude")); },
      /adapter_model\.safetensors: missing tensor "base_model\.model\.transformer\.layers\.4\.ffn\.proj_1\.lora_magnitude_vector"/],
    ["DoRA tensors with use_dora false", "dora", (c) => { c.use_dora = false; }, /unexpected tensor ".*lora_magnitude_vector"/],
    ["non-LoRA peft_type", "lora", (c) => { c.peft_type = "IA3"; }, /adapter_config\.json: peft_type: expected "LORA"/],
    ["bias", "lora", (c) => { c.bias = "all"; }, /adapter_config\.json: bias: only "none"/],
  ];
  for (const [what, kind, edit, msg] of bad)
    test(`rejected: ${what}`, () => {
      const dir = variant(kind, edit);
      expect(() => readPeftAdapter(dir, small)).toThrow(msg);
    });

  test("rejected: an adapter for another base shape names the tensor", () => {
    const other = configOf("tiny-32k");
    expect(() => readPeftAdapter(trainDir("tiny-small-vocab/lora-adapter"), other))
      .toThrow(/adapter_model\.safetensors: tensor "base_model\.model\.transformer\.layers\.0\.attn\.qkv_proj\.lora_A\.weight" has shape \[4,80\], expected \[4,128\] \(another base model\?\)$/);
  });

  test("rejected: a directory without the files", () => {
    const dir = tmp();
    expect(() => readPeftAdapter(dir, small)).toThrow(/adapter_config\.json: missing/);
    expect(() => readPeftAdapter(path.join(dir, "nope"), small)).toThrow(/no such adapter directory/);
  });
});
