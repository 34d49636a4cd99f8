// LoRA and DoRA training (PEFT semantics) against the float64 PyTorch reference (fixtures/openelm-train,
// README §5): the loss with the adapter and every adapter gradient, on both fixtures and every kernel set;
// the frozen base gets no gradient memory and no optimizer moments.

import * as path from "node:path";
import { describe, expect, test } from "vitest";
import type { Backend } from "../../src/kernels/backend.js";
import { createWasmBackend } from "../../src/kernels/wasm/index.js";
import { readPeftAdapter } from "../../src/io/peft_adapter.js";
import { AdamW } from "../../src/train/adamw.js";
import { TrainableOpenELM } from "../../src/train/openelm_train.js";
import { loadParams } from "../../src/train/parameters.js";
import { readFixtureTensors } from "./fixture_tensors.js";
import { loadTrainFixture, TRAIN_FX } from "./train_fixture.js";
import { enableRelaxedSimd } from "../../src/kernels/wasm/relaxed_simd.js";

enableRelaxedSimd();
const KERNELS: Array<[string, () => Promise<Backend | undefined>]> = [
  ["ts", async () => undefined],
  ["wasm", () => createWasmBackend({ threads: 1, relaxed: false })],
  ["wasm-relaxed", () => createWasmBackend({ threads: 2, relaxed: true })],
];

describe.each(["tiny-small-vocab", "tiny-32k"])("adapter training vs reference [%s]", (name) => {
  const fx = loadTrainFixture(name);
  for (const kind of ["lora", "dora"] as const) {
    for (const [kname, make] of KERNELS) {
      test(`${kind}: loss and every adapter gradient [${kname}]`, async () => {
        const be = await make();
        const m = new TrainableOpenELM(fx.ck.config, be, () => true);
        loadParams(m.layout, m.params, fx.ck.tensors, name);
        const a = m.attachAdapter(readPeftAdapter(path.join(TRAIN_FX, name, `${kind}-adapter`), fx.ck.config));
        m.zeroGrad();
        const r = m.forward(fx.ids, fx.targets, fx.B, fx.T, 0);
        expect(Math.abs(r.ce - fx.exp[kind].loss)).toBeLessThanOrEqual(2e-5);
        m.backward();
        const ref = readFixtureTensors(path.join(TRAIN_FX, name, `${kind}_grads.safetensors`));
        expect([...ref.keys()].sort()).toEqual(a.layout.infos.map((p) => p.name).sort());
        for (const p of a.layout.infos) {
          const g = a.grads.subarray(p.offset, p.offset + p.size), want = ref.get(p.name)!.data;
          let maxRef = 0, maxDiff = 0;
          for (let i = 0; i < g.length; i++) { maxRef = Math.max(maxRef, Math.abs(want[i])); maxDiff = Math.max(maxDiff, Math.abs(g[i] - want[i])); }
          expect(maxDiff, p.name).toBeLessThanOrEqual(1e-4 * maxRef + 1e-7);
          expect(maxRef, p.name).toBeGreaterThan(0);
        }
        expect(m.grads.length).toBe(0); // the frozen base has no gradient memory
        be?.dispose?.();
      });
    }
  }
});

test("LoRA: AdamW moves only the adapter; B = 0 (PEFT's start) gives the base loss", () => {
  const fx = loadTrainFixture("tiny-small-vocab");
  const m = new TrainableOpenELM(fx.ck.config, undefined, () => true);
  loadParams(m.layout, m.params, fx.ck.tensors, "tiny-small-vocab");
  const peft = readPeftAdapter(path.join(TRAIN_FX, "tiny-small-vocab/lora-adapter"), fx.ck.config);
  for (const l of peft.layers) for (const mod of Object.values(l)) mod!.B.fill(0);
  const a = m.attachAdapter(peft);
  const base = m.params.slice();
  m.zeroGrad();
  const r = m.forward(fx.ids, fx.targets, fx.B, fx.T, 0);
  expect(Math.abs(r.ce - fx.exp.lora.base_loss_without_adapter)).toBeLessThanOrEqual(2e-5);
  m.backward();
  const opt = new AdamW(a.layout, { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 });
  expect(opt.m.length).toBe(a.layout.total); // moments for the adapter only
  const before = a.params.slice();
  opt.update(a.params, a.grads, 1e-3);
  expect(Buffer.from(m.params.slice().buffer).equals(Buffer.from(base.buffer))).toBe(true);
  expect(a.params.some((v, i) => v !== before[i])).toBe(true);
  const snap = m.adapterSnapshot();
  expect(snap.layers[0].qkv_proj!.B.some((v) => v !== 0)).toBe(true); // B moved off zero (dL/dB ≠ 0 at B = 0)
});

test("DoRA with dropout: activation checkpointing recomputes the same masks (bit-identical gradients)", async () => {
  const fx = loadTrainFixture("tiny-small-vocab");
  const be = await createWasmBackend({ threads: 1 });
  const run = (ckpt: boolean) => {
    const m = new TrainableOpenELM(fx.ck.config, be, () => true);
    loadParams(m.layout, m.params, fx.ck.tensors, "tiny-small-vocab");
    const peft = readPeftAdapter(path.join(TRAIN_FX, "tiny-small-vocab/dora-adapter"), fx.ck.config);
    peft.config.lora_dropout = 0.2;
    const a = m.attachAdapter(peft);
    m.checkpointActivations = ckpt;
    m.dropoutSeed = 1234;
    m.zeroGrad();
    const r = m.forward(fx.ids, fx.targets, fx.B, fx.T, 0);
    m.backward();
    m.dropoutSeed = null;
    const plain = m.forward(fx.ids, fx.targets, fx.B, fx.T, 0).ce; // evaluation: no dropout
    return { ce: r.ce, plain, grads: a.grads.slice() };
  };
  const full = run(false), ck = run(true);
  expect(ck.ce).toBe(full.ce);
  expect(ck.grads).toEqual(full.grads);
  expect(full.ce).not.toBe(full.plain); // the masks changed the loss
  expect(Math.abs(full.plain - fx.exp.dora.loss)).toBeLessThanOrEqual(2e-5);
  be.dispose();
});
