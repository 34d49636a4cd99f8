// The training API (src/train/index.ts, the package's openelm-ts/train): load, attach a PEFT adapter, loss and
// gradients with HF labels, clip, AdamW, schedule, save; checked against the LoRA fixture and by round trips.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { expect, test } from "vitest";
import * as api from "../../src/train/index.js";
import { readPeftAdapter } from "../../src/io/peft_adapter.js";
import { readCheckpoint } from "../../src/io/model_dir.js";
import { CKPT_FX, loadTrainFixture, TRAIN_FX } from "./train_fixture.js";

test("LoRA through the API: fixture loss, one AdamW step on the adapter only, PEFT save round trip", () => {
  const fx = loadTrainFixture("tiny-small-vocab");
  const model = api.loadTrainable(path.join(CKPT_FX, "tiny-small-vocab"), { frozen: true });
  const adapter = api.attachPeft(model, path.join(TRAIN_FX, "tiny-small-vocab/lora-adapter"));
  const opt = new api.AdamW(adapter.layout, { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0 });
  model.zeroGrad();
  const labels = (fx.exp.batch.labels as number[][]).flat();
  const r = api.lossAndGradients(model, fx.ids, labels, fx.B, fx.T);
  expect(Math.abs(r.loss - fx.exp.lora.loss)).toBeLessThanOrEqual(2e-5);
  const { norm } = api.clipGradNorm(adapter.grads, 1.0);
  expect(norm).toBeGreaterThan(0);
  const lr = api.corenetLr(0, { max_lr: 3e-4, min_lr: 3e-5, warmup_iterations: 10, max_iterations: 100, warmup_init_lr: 1e-6 });
  expect(lr).toBe(1e-6);
  opt.update(adapter.params, adapter.grads, 1e-3);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "openelm-api-"));
  api.saveTrainable(model, dir);
  const back = readPeftAdapter(dir, model.config), snap = model.adapterSnapshot();
  expect(Array.from(back.layers[2].proj_1!.A)).toEqual(Array.from(snap.layers[2].proj_1!.A));
  fs.rmSync(dir, { recursive: true, force: true });
});

test("a new PEFT adapter starts at the base loss; a full model saves as a loadable checkpoint", () => {
  const fx = loadTrainFixture("tiny-small-vocab");
  const model = api.loadTrainable(path.join(CKPT_FX, "tiny-small-vocab"), { frozen: true });
  api.attachPeft(model, { r: 2, alpha: 4, useDora: true }, 5);
  const labels = (fx.exp.batch.labels as number[][]).flat();
  model.zeroGrad();
  expect(Math.abs(api.lossAndGradients(model, fx.ids, labels, fx.B, fx.T).loss - fx.exp.lora.base_loss_without_adapter)).toBeLessThanOrEqual(2e-5);
  const full = api.loadTrainable(path.join(CKPT_FX, "tiny-small-vocab"));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "openelm-api-"));
  api.saveTrainable(full, dir);
  expect(readCheckpoint(dir).tensors.get("transformer.norm.weight")!.shape).toEqual([fx.ck.config.model_dim]);
  fs.rmSync(dir, { recursive: true, force: true });
});
