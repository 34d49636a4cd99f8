// LoRA fine-tuning over a loaded inference model (the browser's in-tab fine-tuning): the borrowed base (stored
// bf16, run by the inference kernels, input gradients from rows widened a block at a time) gives the loss and
// adapter gradients of the float32 trainable model with its own copy of the same weights; pasted data is read
// as text or as JSON-lines instruction examples; a short run lowers the loss.

import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { loadModel, type Model } from "../../src/engine.js";
import { createWasmBackend } from "../../src/kernels/wasm/index.js";
import { newPeftAdapter } from "../../src/models/adapter.js";
import { Rng } from "../../src/tensor/rng.js";
import { hfTargets, loadTrainable, TrainableOpenELM } from "../../src/train/index.js";
import { LoraSession, trainingData } from "../../src/train/lora_session.js";

const DIR = "assets/models/default";
const TEXT = "The lighthouse keeper climbed the stairs every night to light the lamp for the ships at sea. ".repeat(6);

let model: Model;
beforeAll(async () => { model = await loadModel(DIR, { backend: await createWasmBackend({ threads: 1 }) }); });
afterAll(() => model?.dispose());

describe("LoRA over a loaded model", () => {
  test("the borrowed bf16 base gives the loss and adapter gradients of a float32 copy of it", async () => {
    const net = model.network, c = net.config;
    const own = loadTrainable(DIR, { backend: await createWasmBackend({ threads: 1 }), frozen: true });
    const borrowed = TrainableOpenELM.overWeights(c, net.weights, net.backend);
    const peft = newPeftAdapter(c, { r: 4, alpha: 8 }, new Rng(3));
    const rng = new Rng(9); // B ≠ 0, so A gets gradients too
    for (const l of peft.layers) for (const m of Object.values(l)) for (let k = 0; k < m!.B.length; k++) m!.B[k] = (rng.uniform() - 0.5) * 0.1;
    const B = 2, T = 24, ids = model.encode(TEXT).slice(0, B * T), labels = hfTargets(ids, B, T);
    const run = (m: TrainableOpenELM) => {
      const a = m.attachAdapter(peft);
      m.zeroGrad();
      const r = m.forward(ids, labels, B, T);
      m.backward();
      return { ce: r.ce, grads: a.grads.slice() };
    };
    const want = run(own), got = run(borrowed);
    expect(got.ce).toBeGreaterThan(1);
    expect(Math.abs(got.ce - want.ce)).toBeLessThan(1e-4 * want.ce);
    let maxG = 0, maxD = 0;
    for (let i = 0; i < want.grads.length; i++) { maxG = Math.max(maxG, Math.abs(want.grads[i])); maxD = Math.max(maxD, Math.abs(got.grads[i] - want.grads[i])); }
    expect(maxG).toBeGreaterThan(0);
    expect(maxD).toBeLessThan(2e-3 * maxG);
  });

  test("pasted data: plain text is one scored document; JSON lines are SFT examples; a bad line names its line", () => {
    const tok = model.tokenizer;
    const text = trainingData(tok, TEXT);
    expect(text.format).toBe("text");
    expect(text.examples[0].ids).toEqual([...model.encode(TEXT), tok.eosId]);
    expect(text.examples[0].labels).toEqual(text.examples[0].ids);
    const sft = trainingData(tok, '{"instruction": "Say hi", "input": "", "output": "Hi!"}\n\n{"question": "2+2?", "answer": "4"}\n');
    expect(sft.format).toBe("sft");
    expect(sft.examples).toHaveLength(2);
    expect(sft.examples[0].labels.filter((l) => l !== -100).length).toBeGreaterThan(0);
    expect(sft.examples[0].labels.filter((l) => l === -100).length).toBeGreaterThan(0); // the prompt is not scored
    expect(() => trainingData(tok, '{"question": "a", "answer": "b"}\n{"question": 3}\n', "pasted")).toThrow(/^pasted:2: field "question" must be a string/);
    expect(() => trainingData(tok, "  \n")).toThrow(/empty/);
  });

  test("a short run on text lowers the loss; the snapshot is the adapter trained", async () => {
    const s = new LoraSession(model.network, model.tokenizer.eosId, trainingData(model.tokenizer, TEXT), { steps: 8, r: 8, lr: 1e-2, contextLength: 32, seed: 1 });
    expect(s.T).toBe(32);
    const losses: number[] = [];
    while (!s.done) { losses.push(s.next().loss); await new Promise((r) => setImmediate(r)); } // a step at a time, as a host runs it
    expect(losses).toHaveLength(8);
    expect(losses.slice(-3).reduce((a, b) => a + b) / 3).toBeLessThan(0.8 * (losses.slice(0, 3).reduce((a, b) => a + b) / 3));
    const peft = s.snapshot();
    expect(peft.layers[0].qkv_proj!.B.some((v) => v !== 0)).toBe(true);
    expect(() => new LoraSession(model.network, 2, trainingData(model.tokenizer, TEXT), { steps: 0, r: 8, lr: 1e-3 })).toThrow(/^steps 0: expected/);
  });
});
