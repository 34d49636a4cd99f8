// Which token tile the float prefill kernel takes (assembly/matmul_float_rows.ts): 4 tokens × 8 rows (8 FMA
// chains, 11 live vectors) or 6 × 8 (12 chains, 15 live vectors). The 6-token tile keeps both FMA pipes busy
// where the engine holds its 15 vectors in registers (V8 13.6, Node 24: ≈ 10 % faster) and spills where it
// does not (V8 11.3 and 12.4, Nodes 20 and 22: ≈ 2× slower), so the backend times both once, at creation,
// after checking that they give the same bits (each output is the same FMA chain over k in either tile).

import type { Arena } from "./arena.js";

interface ProbeExports {
  floatTileProbe(p: number, mode: number, n: number): number;
}

/** What the probe found. */
export interface FloatTileProbe {
  /** Both tiles' outputs the same bits on the probe's inputs. */
  same: boolean;
  /** Best time of the 6-token tile / the 4-token tile, for the same multiply-adds (NaN where not the same). */
  ratio: number;
}

/** Probe the tiles on a module instance (32 KiB of the arena, released after): ≈ 3-6 ms. */
export function probeFloatTile(ex: ProbeExports, arena: Arena): FloatTileProbe {
  const mark = arena.used;
  try { return probeAt(ex, arena.allocBytes(32768)); } finally { arena.release(mark); }
}

function probeAt(ex: ProbeExports, p: number): FloatTileProbe {
  if (![1, 0x9e3779b9].every((seed) => ex.floatTileProbe(p, 0, seed) === 0)) return { same: false, ratio: NaN };
  // Passes of ≈ 0.15 ms on a 3.6 GHz core (1.5 of 4 tokens for each of 6: the same multiply-adds); alternated,
  // best of each: the first rounds also carry the engine's tier-up to optimized code.
  const best = { 4: Infinity, 6: Infinity };
  for (let round = 0; round < 12; round++) {
    for (const [mode, n] of [[6, 300], [4, 450]] as const) {
      const t0 = performance.now();
      ex.floatTileProbe(p, mode, n);
      best[mode] = Math.min(best[mode], performance.now() - t0);
    }
  }
  return { same: true, ratio: best[6] / best[4] };
}
