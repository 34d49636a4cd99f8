// Prefill and decode throughput of the WebGPU backend against the WASM backend on one model (default: the
// embedded default model), same prompt ids, greedy decode. Uses the build (npm run build first):
//   VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json node scripts/bench_webgpu.mjs [model dir] [prompt tokens] [decode tokens]
// Without a GPU, Dawn runs on SwiftShader: CPU emulation of a GPU, not a GPU measurement.
import { createNodeWebGPUBackend } from "../dist/kernels/webgpu_node.js";
import { createWasmBackend } from "../dist/kernels/wasm/index.js";
import { loadModelDir } from "../dist/models/load.js";
import { defaultModelDir } from "../dist/models/registry.js";

const dir = process.argv[2] ?? defaultModelDir();
const nPrompt = Number(process.argv[3] ?? 64), nGen = Number(process.argv[4] ?? 32);

async function measure(backend) {
  const { model } = loadModelDir(dir, { backend });
  const V = model.config.vocab_size;
  const ids = Array.from({ length: nPrompt }, (_, i) => 1 + ((i * 7919) % (V - 1)));
  const cache = model.newCache(nPrompt + nGen + 1);
  await model.forwardAsync(ids.slice(0, 8), cache); // warm-up: shader compilation, buffer growth
  cache.truncate(0);
  let t0 = performance.now();
  let logits = await model.forwardAsync(ids, cache);
  const pp = performance.now() - t0;
  const out = [];
  t0 = performance.now();
  for (let s = 0; s < nGen; s++) {
    let am = 0;
    for (let j = 1; j < V; j++) if (logits[j] > logits[am]) am = j;
    out.push(am);
    logits = await model.forwardAsync([am], cache);
  }
  const tg = performance.now() - t0;
  backend.dispose?.();
  return { pp: (nPrompt * 1000) / pp, tg: (nGen * 1000) / tg, tokens: out };
}

const wasm = await measure(await createWasmBackend({ threads: 2 }));
const gpu = await createNodeWebGPUBackend();
const info = gpu.adapterInfo;
const webgpu = await measure(gpu);
console.log(`model ${dir}, pp${nPrompt} / tg${nGen}, tokens/s`);
console.log(`| backend | pp${nPrompt} t/s | tg${nGen} t/s |\n|---|---|---|`);
console.log(`| wasm, 2 threads | ${wasm.pp.toFixed(1)} | ${wasm.tg.toFixed(1)} |`);
console.log(`| webgpu (${info}) | ${webgpu.pp.toFixed(1)} | ${webgpu.tg.toFixed(1)} |`);
console.log(`webgpu / wasm: prefill ${(webgpu.pp / wasm.pp).toFixed(3)}, decode ${(webgpu.tg / wasm.tg).toFixed(3)}; greedy tokens ${JSON.stringify(webgpu.tokens) === JSON.stringify(wasm.tokens) ? "identical" : "differ"}`);
