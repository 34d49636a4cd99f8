// Loss, z-loss and every parameter gradient of the training forward/backward against the float64
// PyTorch reference (fixtures/openelm-train, README sections 1-3), for tiny-small-vocab and tiny-32k.

import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, test } from "vitest";
import { clipGradNorm, globalGradNorm } from "../../src/train/grad_clip.js";
import { readFixtureTensors } from "./fixture_tensors.js";
import { yieldToRunner } from "../yield.js";
import { loadTrainFixture, TRAIN_FX } from "./train_fixture.js";
import { TrainableOpenELM } from "../../src/train/openelm_train.js";
import { loadParams } from "../../src/train/parameters.js";
import { createWasmBackend } from "../../src/kernels/wasm/index.js";

const Z_COEF = 1e-4;

function relClose(a: number, e: number, rel: number): void {
  expect(Math.abs(a - e), `${a} vs ${e}`).toBeLessThanOrEqual(rel * Math.abs(e));
}

/** Every element within 1e-5 abs (the rule) and within the fixture's per-tensor rule. */
function expectGradClose(name: string, got: Float32Array, ref: Float64Array, rows?: { rows: number[]; D: number }): void {
  let maxRef = 0, maxDiff = 0;
  const n = rows ? rows.rows.length * rows.D : ref.length;
  for (let i = 0; i < n; i++) {
    const gi = rows ? rows.rows[Math.floor(i / rows.D)] * rows.D + (i % rows.D) : i;
    maxRef = Math.max(maxRef, Math.abs(ref[i]));
    maxDiff = Math.max(maxDiff, Math.abs(got[gi] - ref[i]));
  }
  expect(maxDiff, `${name}: max |g - g_ref| = ${maxDiff}`).toBeLessThanOrEqual(Math.min(1e-5, 1e-4 * maxRef + 1e-7));
}

describe.each(["tiny-small-vocab", "tiny-32k"])("training forward/backward vs reference [%s]", (name) => {
  const fx = loadTrainFixture(name);

  test("ce, z-loss, logsumexp and target log-probs", () => {
    const m = fx.make();
    const r = m.forward(fx.ids, fx.targets, fx.B, fx.T, Z_COEF);
    expect(r.count).toBe(fx.exp.batch.n_targets);
    relClose(r.ce, fx.exp.loss.ce, 1e-6);
    relClose(r.zLoss, fx.exp.loss.z_loss, 1e-6);
    relClose(r.ce + r.zLoss, fx.exp.loss.ce_plus_z_loss, 1e-6);
    const logits = m.logits(), V = fx.ck.config.vocab_size;
    for (let b = 0; b < fx.B; b++) for (let t = 0; t < fx.T - 1; t++) {
      const o = (b * fx.T + t) * V;
      let max = -Infinity, s = 0;
      for (let i = 0; i < V; i++) max = Math.max(max, logits[o + i]);
      for (let i = 0; i < V; i++) s += Math.exp(logits[o + i] - max);
      const lse = max + Math.log(s);
      expect(Math.abs(lse - fx.exp.loss.logsumexp[b][t])).toBeLessThan(1e-4);
      const tl = fx.exp.loss.target_logprob[b][t];
      if (tl !== null) expect(Math.abs(logits[o + fx.targets[b * fx.T + t]] - lse - tl)).toBeLessThan(1e-4);
    }
  });

  test("every parameter gradient of ce; global norm; clipping", async () => {
    const m = fx.make();
    m.zeroGrad();
    m.forward(fx.ids, fx.targets, fx.B, fx.T, 0);
    await yieldToRunner();
    m.backward();
    await yieldToRunner();
    const file = name === "tiny-32k" ? "grads_subset.safetensors" : "grads.safetensors";
    const ref = readFixtureTensors(path.join(TRAIN_FX, name, file));
    const sub = name === "tiny-32k"
      ? JSON.parse(fs.readFileSync(path.join(TRAIN_FX, name, "grads_subset_rows.json"), "utf-8")) as { tensor: string; rows: number[] }
      : null;
    expect(ref.size).toBe(m.layout.infos.length);
    for (const p of m.layout.infos) {
      const r = ref.get(p.name)!;
      expect(r, p.name).toBeDefined();
      const rows = sub && sub.tensor === p.name ? { rows: sub.rows, D: p.shape[1] } : undefined;
      expectGradClose(p.name, m.view(m.grads, p.name), r.data, rows);
      let ss = 0;
      const g = m.view(m.grads, p.name);
      for (let i = 0; i < g.length; i++) ss += g[i] * g[i];
      relClose(Math.sqrt(ss), fx.exp.grads.tensor_norms[p.name], 1e-5);
    }
    relClose(globalGradNorm(m.grads), fx.exp.grads.global_norm, 1e-6);
    const before = m.grads.slice();
    const { norm, coef } = clipGradNorm(m.grads, fx.exp.clip.max_norm);
    relClose(norm, fx.exp.clip.norm_before, 1e-6);
    relClose(coef, fx.exp.clip.coef, 1e-6);
    relClose(globalGradNorm(m.grads), fx.exp.clip.norm_after, 1e-6);
    for (let i = 0; i < before.length; i += 97) expect(m.grads[i]).toBe(Math.fround(before[i] * coef));
  });

  test("gradients of ce + z-loss (global norm; every tensor for tiny-small-vocab)", async () => {
    const m = fx.make();
    m.zeroGrad();
    m.forward(fx.ids, fx.targets, fx.B, fx.T, Z_COEF);
    await yieldToRunner();
    m.backward();
    relClose(globalGradNorm(m.grads), fx.exp.grads.global_norm_ce_plus_z_loss, 1e-6);
    for (const p of m.layout.infos) {
      const g = m.view(m.grads, p.name);
      let ss = 0;
      for (let i = 0; i < g.length; i++) ss += g[i] * g[i];
      relClose(Math.sqrt(ss), fx.exp.grads.tensor_norms_ce_plus_z_loss[p.name], 1e-5);
    }
    const f = path.join(TRAIN_FX, name, "grads_ce_plus_z_loss.safetensors");
    if (fs.existsSync(f)) for (const [n, r] of readFixtureTensors(f)) expectGradClose(n, m.view(m.grads, n), r.data);
  });
});

test("gradient accumulation: two micro-batches scaled by 1/2 = one batch (equal target counts)", () => {
  const fx = loadTrainFixture("tiny-small-vocab");
  const V = fx.ck.config.vocab_size, T = 16;
  const ids = Array.from({ length: 2 * T }, (_, i) => (i * 37 + 11) % V);
  const targets = Int32Array.from(ids.map((_, i) => (i % T === T - 1 ? -100 : ids[i + 1])));
  const whole = fx.make(), acc = fx.make();
  whole.zeroGrad();
  whole.forward(ids, targets, 2, T, Z_COEF);
  whole.backward();
  acc.zeroGrad();
  for (const b of [0, 1]) {
    acc.forward(ids.slice(b * T, b * T + T), targets.subarray(b * T, b * T + T), 1, T, Z_COEF);
    acc.backward(0.5);
  }
  let max = 0;
  for (let i = 0; i < whole.grads.length; i++) max = Math.max(max, Math.abs(whole.grads[i] - acc.grads[i]));
  expect(max).toBeLessThan(1e-7);
});

test("frozen tensors (the LoRA design): no gradient, no update; the trainable gradients are unchanged", async () => {
  const { TrainableOpenELM } = await import("../../src/train/openelm_train.js");
  const { AdamW } = await import("../../src/train/adamw.js");
  const fx = loadTrainFixture("tiny-small-vocab");
  const full = fx.make();
  full.zeroGrad();
  full.forward(fx.ids, fx.targets, fx.B, fx.T, Z_COEF);
  full.backward();
  const frozen = (n: string) => !n.includes("norm");
  const m = new TrainableOpenELM(fx.ck.config, undefined, frozen);
  m.params.set(full.params);
  const before = m.params.slice();
  m.zeroGrad();
  m.forward(fx.ids, fx.targets, fx.B, fx.T, Z_COEF);
  m.backward();
  for (const p of m.layout.infos) {
    const g = m.view(m.grads, p.name), want = full.view(full.grads, p.name);
    if (frozen(p.name)) expect(g.every((x) => x === 0), p.name).toBe(true);
    else expect(Array.from(g), p.name).toEqual(Array.from(want));
  }
  new AdamW(m.layout).update(m.params, m.grads, 1e-3);
  for (const p of m.layout.infos) {
    const changed = m.view(m.params, p.name).some((x, i) => x !== before[p.offset + i]);
    expect(changed, p.name).toBe(!frozen(p.name));
  }
});

/** Index of the first element where a and b differ bitwise (-1: none); a loop, since toEqual on millions of floats is slow. */
function firstDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length), ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return i;
  return -1;
}

describe.each(["tiny-small-vocab", "tiny-32k"])("activation checkpointing [%s]", (name) => {
  const fx = loadTrainFixture(name);
  for (const kernels of ["ts", "wasm"] as const) {
    test(`${kernels} kernels: the same loss and bit-identical gradients as keeping every activation, in less memory`, async () => {
      const k = kernels === "wasm" ? await createWasmBackend({ threads: 2 }) : undefined;
      const run = (ckpt: boolean) => {
        const m = new TrainableOpenELM(fx.ck.config, k);
        loadParams(m.layout, m.params, fx.ck.tensors, name);
        m.checkpointActivations = ckpt;
        m.zeroGrad();
        const r = m.forward(fx.ids, fx.targets, fx.B, fx.T, Z_COEF);
        m.backward();
        return { r, grads: m.grads.slice(), bytes: m.activationBytes() };
      };
      const full = run(false);
      await yieldToRunner();
      const ck = run(true);
      expect(ck.r).toEqual(full.r);
      expect(firstDifference(ck.grads, full.grads), "first gradient element that differs").toBe(-1);
      expect(ck.bytes).toBeLessThan(full.bytes);
      relClose(ck.r.ce + ck.r.zLoss, fx.exp.loss.ce_plus_z_loss, 1e-6);
      k?.dispose?.();
    });
  }
});
