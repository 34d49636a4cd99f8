// The float prefill kernel's two token tiles (kernels/wasm/float_tile.ts): 4 or 6 tokens a pass over each
// widened pair of 4-row groups. Each output is the same FMA chain over k in either tile, so both must give the
// same bits at every path (last tiles of 1 to 5 tokens, the 6-token tiles' tail of 4-token tiles, a lone last
// 4-row group, K not a multiple of 4 or 8, token blocks and a short rest joined to the block before it), and
// match the reference backend; the probe must find them the same.

import { afterAll, expect, test } from "vitest";
import { createRefBackend } from "../../src/kernels/ref/index.js";
import { createWasmBackend, type WasmBackend } from "../../src/kernels/wasm/index.js";
import { put, randn, storeAs, worst } from "./wasm_cases.js";

const made: WasmBackend[] = [];
const backend = async (o: Parameters<typeof createWasmBackend>[0]) => { const b = await createWasmBackend(o); made.push(b); return b; };
afterAll(() => { for (const b of made) b.dispose?.(); });

test("the probe finds both tiles the same bits, and floatTile is checked", async () => {
  const auto = await backend({ threads: 1, relaxed: true });
  const probe = auto.floatTileProbe!;
  expect(probe.same).toBe(true);
  expect(probe.ratio).toBeGreaterThan(0);
  expect(Number.isFinite(probe.ratio)).toBe(true);
  expect([4, 6]).toContain(auto.floatTile);
  const forced = await backend({ threads: 1, relaxed: true, floatTile: 6 });
  expect(forced.floatTile).toBe(6);
  expect(forced.floatTileProbe).toBeNull();
  await expect(createWasmBackend({ threads: 1, floatTile: 5 as 4 })).rejects.toThrow('wasm backend: floatTile: 5: expected 4, 6 or "auto"');
});

for (const relaxed of [true, false]) {
  test(`f32, bf16, f16 prefill: the 6-token tile bit for bit the 4-token tile's, both within bounds of the reference (${relaxed ? "relaxed" : "plain"} SIMD, 2 threads)`, async () => {
    const four = await backend({ threads: 2, relaxed, floatTile: 4 }), six = await backend({ threads: 2, relaxed, floatTile: 6 });
    const ref = createRefBackend();
    for (const dtype of ["f32", "bf16", "f16"] as const) {
      for (const [N, K] of [[20, 96], [7, 33], [44, 1], [12, 130]] as const) {
        const st = storeAs(dtype, randn(N * K, N * 7 + K, 0.5), N, K);
        const w4 = four.loadMatrix(st, N, K), w6 = six.loadMatrix(st, N, K), wr = ref.loadMatrix(st, N, K);
        // Past the small-batch matvecs (T ≤ 16), every T mod 6 and mod 4; blocks: 130 = 66 + 64 (g = 6), 263 = 90 + 90 +
        // 83; 3829 = 29 blocks of 132 and a rest of 1, which joins the block before it (its 4-token tail starts at 3822).
        for (const T of [17, 21, 61, 64, 128, 130, 132, 263, 3829]) {
          const x = randn(T * K, T * 13 + K, 1);
          const a = four.alloc(T * N), b = six.alloc(T * N), want = new Float32Array(T * N);
          four.matmul(a, put(four, x), w4, T);
          six.matmul(b, put(six, x), w6, T);
          ref.matmul(want, x, wr, T);
          const at = `${dtype} N=${N} K=${K} T=${T}`;
          expect(Array.from(b), at).toEqual(Array.from(a));
          expect(worst(b, want, () => 1e-5 * (K + 1)).ratio, at).toBeLessThanOrEqual(1);
        }
      }
    }
  });
}
