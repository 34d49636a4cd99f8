// DPO (TRL's sigmoid loss over summed response log-probs): the gradient of our float32 training stack
// against central finite differences of a float64 evaluation of the same loss, written out here from the
// model's definition, on the tiny-small-vocab fixture checkpoint: full fine-tuning (reference = a frozen
// copy) and LoRA (reference = the base without the adapter).

import * as path from "node:path";
import { describe, expect, test } from "vitest";
import { readPeftAdapter, LORA_TARGETS, peftTensorName, type LoraModule, type PeftAdapter } from "../../src/io/peft_adapter.js";
import { layerSizes, RMS_EPS, type OpenELMConfig } from "../../src/models/config.js";
import { dpoStep } from "../../src/train/dpo.js";
import { TrainableOpenELM } from "../../src/train/openelm_train.js";
import { loadParams } from "../../src/train/parameters.js";
import { Rng } from "../../src/tensor/rng.js";
import { loadTrainFixture, TRAIN_FX } from "./train_fixture.js";

type P64 = Map<string, Float64Array>;

/** log p(target) summed over each sequence's counted targets, everything in float64. */
function seqLogProbs64(c: OpenELMConfig, w: P64, lora: PeftAdapter | null, ids: number[], targets: number[], B: number, T: number): number[] {
  const D = c.model_dim, hd = c.head_dim, V = c.vocab_size;
  const get = (n: string) => w.get(n)!;
  const linear = (x: number[][], name: string, l: number, t?: (typeof LORA_TARGETS)[number]) => {
    const W = get(name), IN = x[0].length, OUT = W.length / IN;
    const m: LoraModule | undefined = t && lora ? lora.layers[l][t] : undefined;
    const A = m ? w.get(peftTensorName(l, t!, "lora_A"))! : null, Bm = m ? w.get(peftTensorName(l, t!, "lora_B"))! : null;
    return x.map((row) => {
      const y = new Array<number>(OUT).fill(0);
      for (let o = 0; o < OUT; o++) { let s = 0; for (let i = 0; i < IN; i++) s += W[o * IN + i] * row[i]; y[o] = s; }
      if (m && A && Bm) {
        const ax = Array.from({ length: m.r }, (_, j) => { let s = 0; for (let i = 0; i < IN; i++) s += A[j * IN + i] * row[i]; return s; });
        for (let o = 0; o < OUT; o++) { let s = 0; for (let j = 0; j < m.r; j++) s += Bm[o * m.r + j] * ax[j]; y[o] += m.scaling * s; }
      }
      return y;
    });
  };
  const norm = (x: number[], g: Float64Array) => { let ss = 0; for (const v of x) ss += v * v; const r = 1 / Math.sqrt(ss / x.length + RMS_EPS); return x.map((v, i) => v * r * g[i]); };
  const out: number[] = [];
  for (let b = 0; b < B; b++) {
    const E = get("transformer.token_embeddings.weight");
    let x = Array.from({ length: T }, (_, t) => Array.from(E.subarray(ids[b * T + t] * D, ids[b * T + t] * D + D)));
    for (let l = 0; l < c.num_transformer_layers; l++) {
      const p = `transformer.layers.${l}.`, { nQ, nKV, ffnDim: F } = layerSizes(c, l);
      const qkv = linear(x.map((r) => norm(r, get(p + "attn_norm.weight"))), p + "attn.qkv_proj.weight", l, "qkv_proj");
      const head = (t: number, h: number, wn: string | null) => {
        let v = qkv[t].slice(h * hd, h * hd + hd);
        if (wn && c.normalize_qk_projections) v = norm(v, get(p + wn));
        const half = hd / 2, r = v.slice();
        for (let j = 0; j < half; j++) {
          const a = t / Math.pow(c.rope_freq_constant, (2 * j) / hd);
          r[j] = v[j] * Math.cos(a) - v[j + half] * Math.sin(a); r[j + half] = v[j + half] * Math.cos(a) + v[j] * Math.sin(a);
        }
        return r;
      };
      const att = Array.from({ length: T }, () => new Array<number>(nQ * hd).fill(0));
      for (let h = 0; h < nQ; h++) {
        const g = Math.floor(h / (nQ / nKV));
        const ks = Array.from({ length: T }, (_, s) => head(s, nQ + g, "attn.k_norm.weight"));
        for (let t = 0; t < T; t++) {
          const q = head(t, h, "attn.q_norm.weight");
          const sc = ks.slice(0, t + 1).map((k) => k.reduce((a, v, i) => a + v * q[i], 0) / Math.sqrt(hd));
          const mx = Math.max(...sc), e = sc.map((v) => Math.exp(v - mx)), z = e.reduce((a, v) => a + v, 0);
          for (let s = 0; s <= t; s++) for (let i = 0; i < hd; i++) att[t][h * hd + i] += (e[s] / z) * qkv[s][(nQ + nKV + g) * hd + i];
        }
      }
      const o = linear(att, p + "attn.out_proj.weight", l, "out_proj");
      x = x.map((r, t) => r.map((v, i) => v + o[t][i]));
      const gu = linear(x.map((r) => norm(r, get(p + "ffn_norm.weight"))), p + "ffn.proj_1.weight", l, "proj_1");
      const ff = gu.map((r) => Array.from({ length: F }, (_, f) => (r[f] / (1 + Math.exp(-r[f]))) * r[F + f]));
      const y = linear(ff, p + "ffn.proj_2.weight", l, "proj_2");
      x = x.map((r, t) => r.map((v, i) => v + y[t][i]));
    }
    const logits = linear(x.map((r) => norm(r, get("transformer.norm.weight"))), c.share_input_output_layers ? "transformer.token_embeddings.weight" : "lm_head.weight", -1);
    let s = 0;
    for (let t = 0; t < T; t++) {
      const y = targets[b * T + t];
      if (y === -100) continue;
      const mx = Math.max(...logits[t]);
      s += logits[t][y] - mx - Math.log(logits[t].reduce((a, v) => a + Math.exp(v - mx), 0));
    }
    out.push(s);
  }
  return out;
}

function dpoLoss64(pol: number[], ref: number[], P: number, beta: number): number {
  let loss = 0;
  for (let p = 0; p < P; p++) { const z = beta * ((pol[p] - ref[p]) - (pol[P + p] - ref[P + p])); loss += Math.log1p(Math.exp(-z)) / P; }
  return loss;
}

/** 2 pairs: a shared prompt each, two different responses (scored), padded to T. */
function pairs(V: number) {
  const P = 2, T = 12, rng = new Rng(3), ids: number[] = [], targets: number[] = [];
  const rows: number[][] = [[], [], [], []], resp: number[] = [7, 5, 6, 4];
  for (let p = 0; p < P; p++) {
    const prompt = Array.from({ length: 4 }, () => 3 + rng.int(V - 3));
    rows[p] = [...prompt, ...Array.from({ length: resp[p] }, () => 3 + rng.int(V - 3))];
    rows[P + p] = [...prompt, ...Array.from({ length: resp[P + p] }, () => 3 + rng.int(V - 3))];
  }
  for (const r of rows) for (let t = 0; t < T; t++) {
    ids.push(t < r.length ? r[t] : 2);
    targets.push(t + 1 < r.length && t + 1 >= 4 ? r[t + 1] : -100); // position t predicts t + 1; the response only
  }
  return { P, T, ids, targets };
}

describe("DPO gradient vs central finite differences of a float64 evaluation", () => {
  const fx = loadTrainFixture("tiny-small-vocab"), c = fx.ck.config, beta = 0.5;
  const { P, T, ids, targets } = pairs(c.vocab_size);
  const to64 = (m: TrainableOpenELM, extra?: { layout: { infos: Array<{ name: string; offset: number; size: number }> }; params: Float32Array }) => {
    const w: P64 = new Map(m.layout.infos.map((p) => [p.name, Float64Array.from(m.params.subarray(p.offset, p.offset + p.size))]));
    for (const p of extra?.layout.infos ?? []) w.set(p.name, Float64Array.from(extra!.params.subarray(p.offset, p.offset + p.size)));
    return w;
  };
  /** The entries with the largest |gradient| of each named tensor, and their central differences. */
  const check = async (grad: (n: string) => Float32Array, names: string[], w: P64, loss64: (w: P64) => number) => {
    let worst = 0;
    for (const n of names) {
      const g = grad(n), order = Array.from(g.keys()).sort((a, b) => Math.abs(g[b]) - Math.abs(g[a])).slice(0, 2);
      for (const i of order) {
        const v = w.get(n)!, x = v[i], h = 1e-4 * Math.max(1, Math.abs(x));
        await new Promise((r) => setImmediate(r)); // keep the worker responsive between evaluations
        v[i] = x + h; const up = loss64(w); v[i] = x - h; const down = loss64(w); v[i] = x;
        const fd = (up - down) / (2 * h);
        worst = Math.max(worst, Math.abs(g[i] - fd) / Math.abs(fd));
      }
    }
    return worst;
  };

  test("full fine-tuning: reference = a frozen copy of the starting model", async () => {
    const policy = TrainableOpenELM.fromTensors(c, fx.ck.tensors), ref = new TrainableOpenELM(c, undefined, () => true);
    loadParams(ref.layout, ref.params, fx.ck.tensors, "tiny-small-vocab");
    // move the policy off the reference, so the rewards differ from 0
    for (let i = 0; i < policy.params.length; i += 7) policy.params[i] *= 1.02;
    policy.zeroGrad();
    const r = dpoStep(policy, ref, ids, targets, P, T, beta);
    const w = to64(policy), wRef = to64(ref);
    const refLp = seqLogProbs64(c, wRef, null, ids, targets, 2 * P, T);
    const loss64 = (x: P64) => dpoLoss64(seqLogProbs64(c, x, null, ids, targets, 2 * P, T), refLp, P, beta);
    expect(Math.abs(r.loss - loss64(w))).toBeLessThan(1e-5);
    const names = ["transformer.layers.0.attn.qkv_proj.weight", "transformer.layers.4.ffn.proj_2.weight", "transformer.layers.2.attn.q_norm.weight",
      "transformer.norm.weight", "transformer.token_embeddings.weight"];
    expect(await check((n) => policy.view(policy.grads, n), names, w, loss64)).toBeLessThan(1e-5);
  });

  test("LoRA: reference = the base without the adapter; accuracy and margins from the rewards", async () => {
    const m = new TrainableOpenELM(c, undefined, () => true);
    loadParams(m.layout, m.params, fx.ck.tensors, "tiny-small-vocab");
    const peft = readPeftAdapter(path.join(TRAIN_FX, "tiny-small-vocab/lora-adapter"), c);
    const a = m.attachAdapter(peft);
    m.zeroGrad();
    const r = dpoStep(m, null, ids, targets, P, T, beta);
    expect(r.accuracy).toBe(r.rewardsChosen.filter((x, p) => x > r.rewardsRejected[p]).length / P);
    expect(r.margin).toBeCloseTo((r.rewardsChosen[0] - r.rewardsRejected[0] + r.rewardsChosen[1] - r.rewardsRejected[1]) / 2, 12);
    const w = to64(m, a);
    const refLp = seqLogProbs64(c, w, null, ids, targets, 2 * P, T);
    const loss64 = (x: P64) => dpoLoss64(seqLogProbs64(c, x, peft, ids, targets, 2 * P, T), refLp, P, beta);
    expect(Math.abs(r.loss - loss64(w))).toBeLessThan(1e-5);
    const names = [[0, "qkv_proj"], [0, "proj_2"], [3, "out_proj"], [4, "proj_1"]].flatMap(([l, t]) =>
      [peftTensorName(l as number, t as (typeof LORA_TARGETS)[number], "lora_A"), peftTensorName(l as number, t as (typeof LORA_TARGETS)[number], "lora_B")]);
    const grad = (n: string) => { const p = a.layout.byName.get(n)!; return a.grads.subarray(p.offset, p.offset + p.size); };
    expect(await check(grad, names, w, loss64)).toBeLessThan(1e-5);
  });
});

test("DPO steps on the wasm backend allocate nothing after the first (the base and adapter plans are kept)", async () => {
  const { createWasmBackend } = await import("../../src/kernels/wasm/index.js");
  const fx = loadTrainFixture("tiny-small-vocab"), c = fx.ck.config;
  const be = await createWasmBackend({ threads: 1 });
  const m = new TrainableOpenELM(c, be, () => true);
  loadParams(m.layout, m.params, fx.ck.tensors, "tiny-small-vocab");
  m.attachAdapter(readPeftAdapter(path.join(TRAIN_FX, "tiny-small-vocab/lora-adapter"), c));
  const { P, T, ids, targets } = pairs(c.vocab_size);
  const used: number[] = [];
  for (let s = 0; s < 3; s++) { m.zeroGrad(); dpoStep(m, null, ids, targets, P, T, 0.5); used.push(be.memoryBytes()); }
  expect(used[2]).toBe(used[1]);
  be.dispose();
});
