// Test helper: a training fixture (fixtures/openelm-train/<name>) with its checkpoint, batch and targets.

import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { readCheckpoint } from "../../src/io/model_dir.js";
import { expect } from "vitest";
import type { Backend } from "../../src/kernels/backend.js";
import { hfTargets, TrainableOpenELM } from "../../src/train/openelm_train.js";
import { loadParams } from "../../src/train/parameters.js";
import { readFixtureTensors } from "./fixture_tensors.js";

const HERE = path.dirname(new URL(import.meta.url).pathname);
export const TRAIN_FX = path.join(HERE, "../fixtures/openelm-train");
export const CKPT_FX = path.join(HERE, "../fixtures/openelm");

export function loadTrainFixture(name: string) {
  const exp = JSON.parse(fs.readFileSync(path.join(TRAIN_FX, name, "expected.json"), "utf-8"));
  const dir = path.join(CKPT_FX, name);
  const sha = createHash("sha256").update(fs.readFileSync(path.join(dir, "model.safetensors"))).digest("hex");
  if (sha !== exp.checkpoint.model_safetensors_sha256) throw new Error(`${dir}: checkpoint differs from the one the fixture names`);
  const ck = readCheckpoint(dir);
  const { B, T } = exp.batch as { B: number; T: number };
  const ids = (exp.batch.input_ids as number[][]).flat();
  const targets = hfTargets((exp.batch.labels as number[][]).flat(), B, T);
  return { exp, ck, B, T, ids, targets, make: (be?: Backend) => TrainableOpenELM.fromTensors(ck.config, ck.tensors, "model.safetensors", be) };
}


/** tiny-small-vocab on backend be: ce + z-loss within 1e-6 relative, every gradient within the fixture's rule. */
export function expectFixtureGradients(be: Backend): void {
  const fx = loadTrainFixture("tiny-small-vocab");
  const m = new TrainableOpenELM(fx.ck.config, be);
  loadParams(m.layout, m.params, fx.ck.tensors, "model.safetensors");
  m.zeroGrad();
  const r = m.forward(fx.ids, fx.targets, fx.B, fx.T, 1e-4);
  expect(Math.abs(r.ce + r.zLoss - fx.exp.loss.ce_plus_z_loss)).toBeLessThan(1e-6 * fx.exp.loss.ce_plus_z_loss);
  m.backward();
  for (const [name, ref] of readFixtureTensors(path.join(TRAIN_FX, "tiny-small-vocab/grads_ce_plus_z_loss.safetensors"))) {
    const g = m.view(m.grads, name);
    let maxRef = 0, maxDiff = 0;
    for (let i = 0; i < g.length; i++) { maxRef = Math.max(maxRef, Math.abs(ref.data[i])); maxDiff = Math.max(maxDiff, Math.abs(g[i] - ref.data[i])); }
    expect(maxDiff, name).toBeLessThanOrEqual(Math.min(1e-5, 1e-4 * maxRef + 1e-7));
  }
}
