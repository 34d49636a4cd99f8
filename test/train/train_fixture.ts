// Test helper: a training fixture (fixtures/openelm-train/<name>) with its checkpoint, batch and targets.

import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { readCheckpoint } from "../../src/io/model_dir.js";
import { hfTargets, TrainableOpenELM } from "../../src/train/openelm_train.js";

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
  return { exp, ck, B, T, ids, targets, make: () => TrainableOpenELM.fromTensors(ck.config, ck.tensors) };
}

