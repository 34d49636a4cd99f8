// Which form the q4_0 kernels take for their nibble dots (assembly/matmul_quant.ts, dotAdd): the u8 form (an i8·i7
// dot into i16 lanes, then an add: vpmaddubsw + vpaddw on x86) or the dot-add form (i32x4.relaxed_dot_i8x16_i7x16_add_s,
// one vpdpbusd where V8 uses AVX-VNNI). Both give the same integer sums, so the same outputs bit for bit; which is
// faster depends on the engine and the CPU, and V8 11.3 (Node 20) computes the dot-add form wrongly. So the backend
// checks the instruction on exact sums and times both forms of the prefill tile once, at creation.

import type { Arena } from "./arena.js";

interface ProbeExports {
  dotAddProbe(p: number, mode: number, n: number): number;
}

/** What the probe found: whether the dot-add form is exact here (the instruction, and the kernels' tiles against the u8 form's) and its time over the u8 form's. */
export interface DotAddProbe {
  exact: boolean;
  /** Best time of the dot-add form / best time of the u8 form on the same tile (NaN where not exact). */
  ratio: number;
}

/** i8 · i7 lanes the check covers: the extremes of both operands and mixed signs. */
const A = [-128, 127, -1, 1, -127, 100, -50, 3, 0, -128, 64, -64, 127, -2, 9, -9];
const B = [127, 127, 127, 0, 1, 126, 15, 2, 77, 64, 0, 127, 127, 5, 8, 8];
const ACC = [1000, -70000, 0, 2 ** 30];

/** Probe the dot-add form on a relaxed-SIMD module instance (64 KiB of the arena, allocated once). */
export function probeDotAdd(ex: ProbeExports, arena: Arena): DotAddProbe {
  const p = arena.allocBytes(65536);
  const bytes = arena.u8(p, 65536);
  bytes.fill(0);
  const i8 = new Int8Array(bytes.buffer, p, 64), i32 = new Int32Array(bytes.buffer, p, 16);
  i8.set(A, 0); i8.set(B, 16); i32.set(ACC, 8);
  ex.dotAddProbe(p, 0, 0);
  const got = Array.from(new Int32Array(bytes.buffer, p + 48, 4));
  const want = ACC.map((c, j) => (c + A[4 * j] * B[4 * j] + A[4 * j + 1] * B[4 * j + 1] + A[4 * j + 2] * B[4 * j + 2] + A[4 * j + 3] * B[4 * j + 3]) | 0);
  if (got.some((v, j) => v !== want[j])) return { exact: false, ratio: NaN };
  // The kernels themselves: both forms' tiles on random inputs, bit for bit.
  for (const seed of [1, 0x9e3779b9]) if (ex.dotAddProbe(p, 3, seed) !== 0) return { exact: false, ratio: NaN };
  bytes.fill(0);
  // Alternate the two forms, best of each: the first rounds also carry the engine's tier-up to optimized code.
  const best = [Infinity, Infinity];
  for (let round = 0; round < 10; round++) { // ≈ 0.3 ms a call on a 3.6 GHz core
    for (const mode of [1, 2]) {
      const t0 = performance.now();
      ex.dotAddProbe(p, mode, 500);
      best[mode - 1] = Math.min(best[mode - 1], performance.now() - t0);
    }
  }
  return { exact: true, ratio: best[0] / best[1] };
}
