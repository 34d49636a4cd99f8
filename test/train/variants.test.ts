// Gradients on OpenELM variants the public fixtures leave out (untied lm_head, no QK-norm), against float64
// PyTorch gradients (fixtures/openelm-train/variants, made with the reference port), with both kernel sets.

import * as fs from "node:fs";
import * as path from "node:path";
import { expect, test } from "vitest";
import { readCheckpoint } from "../../src/io/model_dir.js";
import type { Backend } from "../../src/kernels/backend.js";
import { hfTargets, TrainableOpenELM } from "../../src/train/openelm_train.js";
import { loadParams } from "../../src/train/parameters.js";
import { createWasmBackend } from "../../src/kernels/wasm/index.js";
import { readFixtureTensors } from "./fixture_tensors.js";
import { TRAIN_FX } from "./train_fixture.js";

const wasm = await createWasmBackend({ threads: 1 });

for (const variant of ["untied", "no-qknorm"]) {
  for (const [kname, mm] of [["js", undefined], ["wasm", wasm]] as Array<[string, Backend | undefined]>) {
    test(`${variant}: loss and every gradient [${kname}]`, () => {
      const dir = path.join(TRAIN_FX, "variants", variant);
      const exp = JSON.parse(fs.readFileSync(path.join(dir, "expected.json"), "utf-8"));
      const ck = readCheckpoint(dir);
      const m = new TrainableOpenELM(ck.config, mm);
      loadParams(m.layout, m.params, ck.tensors, dir);
      const B = exp.input_ids.length, T = exp.input_ids[0].length;
      m.zeroGrad();
      const r = m.forward(exp.input_ids.flat(), hfTargets(exp.labels.flat(), B, T), B, T, exp.z_loss_coef);
      expect(Math.abs(r.ce - exp.ce)).toBeLessThan(1e-6 * exp.ce);
      expect(Math.abs(r.zLoss - exp.z_loss)).toBeLessThan(1e-6 * exp.z_loss);
      m.backward();
      const ref = readFixtureTensors(path.join(dir, "grads.safetensors"));
      expect([...ref.keys()].sort()).toEqual(m.layout.infos.map((p) => p.name).sort());
      for (const [name, g] of ref) {
        const got = m.view(m.grads, name);
        let maxRef = 0, maxDiff = 0;
        for (let i = 0; i < got.length; i++) { maxRef = Math.max(maxRef, Math.abs(g.data[i])); maxDiff = Math.max(maxDiff, Math.abs(got[i] - g.data[i])); }
        expect(maxDiff, name).toBeLessThanOrEqual(Math.min(1e-5, 1e-4 * maxRef + 1e-7));
      }
    });
  }
}
