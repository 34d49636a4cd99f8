// The two forms of the quantized kernels' integer dots (kernels/wasm/dot_add.ts): the backend probes the dot-add
// form once and takes it only where the instruction and the kernels' tiles are exact (q8_0's: only where bytes past
// 127 read unsigned, as vpdpbusd does). Where the engine computes it exactly, the forms' outputs must be bit for bit
// the same at every path (decode tiles, the unpacked-pairs kernel's 4- and 1-token tiles, odd row counts); where it
// does not (V8 11.3, Node 20), asking for it must fail with the reason. q4_K, q5_K and q6_K take q4_0's form in
// their four-token prefill tile. Chromium's V8 computes it exactly:
// test/web/web_app.test.ts runs q4_0 and q8_0 models there in both forms.

import { afterAll, expect, test } from "vitest";
import { createWasmBackend, type WasmBackend } from "../../src/kernels/wasm/index.js";
import { put, randn, storeAs } from "./wasm_cases.js";

const made: WasmBackend[] = [];
const backend = async (o: Parameters<typeof createWasmBackend>[0]) => { const b = await createWasmBackend(o); made.push(b); return b; };
afterAll(() => { for (const b of made) b.dispose?.(); });

test("the probe runs on the relaxed build only, and dotAdd: false keeps the u8 form", async () => {
  const plain = await backend({ threads: 1, relaxed: false });
  expect(plain.dotAddProbe).toBeNull();
  expect(plain.dotAdd).toBe(false);
  await expect(createWasmBackend({ threads: 1, relaxed: false, dotAdd: true })).rejects.toThrow(/plain-SIMD build has no dot-add form/);
  const off = await backend({ threads: 1, relaxed: true, dotAdd: false });
  expect(off.dotAdd).toBe(false);
  expect(off.name).toBe("wasm-relaxed");
});

test("dotAdd: true is exact wherever the probe allows it, and an error naming the instruction where it does not", async () => {
  const auto = await backend({ threads: 2, relaxed: true });
  const probe = auto.dotAddProbe!;
  expect(probe).not.toBeNull();
  if (/^11\.3\./.test(process.versions.v8)) expect(probe.exact).toBe(false); // Node 20's V8 returns wrong sums
  if (!probe.exact) {
    expect(auto.dotAdd).toBe(false);
    await expect(createWasmBackend({ threads: 1, relaxed: true, dotAdd: true })).rejects.toThrow(/i32x4\.relaxed_dot_i8x16_i7x16_add_s wrongly/);
    return;
  }
  expect(probe.ratio).toBeGreaterThan(0);
  const on = await backend({ threads: 2, relaxed: true, dotAdd: true });
  const off = await backend({ threads: 2, relaxed: true, dotAdd: false });
  expect(on.name).toBe(probe.unsignedExact ? "wasm-relaxed+dot-add+u8" : "wasm-relaxed+dot-add");
  expect(on.dotAddQ8).toBe(probe.unsignedExact);
  // 16-row decode tiles and a rest of 8 and 4-row groups; the pairs kernel's 4-token tiles and their 1-token rest.
  // K-quants: the four-token prefill tile (T = 8, 67) and its rests (T = 3: the decode tiles, a 2-token tile).
  for (const [dtype, N, K] of [["q4_0", 44, 96], ["q4_0", 96, 1280], ["q4_0", 7, 32], ["q8_0", 44, 96], ["q8_0", 7, 1280],
    ["q4_k", 37, 512], ["q5_k", 20, 256], ["q6_k", 21, 512]] as const) {
    const st = storeAs(dtype, randn(N * K, N + K, 0.5), N, K);
    const [wOn, wOff] = [on.loadMatrix(st, N, K), off.loadMatrix(st, N, K)];
    for (const T of [1, 3, 8, 67]) {
      const x = randn(T * K, T * 31 + K, 1);
      const a = on.alloc(T * N), b = off.alloc(T * N);
      on.matmul(a, put(on, x), wOn, T);
      off.matmul(b, put(off, x), wOff, T);
      expect(Array.from(a), `${dtype} N=${N} K=${K} T=${T}`).toEqual(Array.from(b));
    }
  }
});
