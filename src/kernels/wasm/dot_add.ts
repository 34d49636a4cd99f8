// Which form the quantized kernels take for their integer dots (assembly/matmul_quant.ts, dotAdd).
// q4_0 (and the K-quants' four-token prefill tile): an i8·i7 dot into i16 lanes, then an add (vpmaddubsw +
// vpaddw on x86), or the dot-add form i32x4.relaxed_dot_i8x16_i7x16_add_s, one vpdpbusd where V8 uses AVX-VNNI
// (Node 24's V8 13.6 does; Node 22's 12.4 emits three instructions, slower than the u8 form; Node 20's 11.3
// computes it wrongly). q8_0 (its unpacked-pairs kernel: prefills, batched decode steps; and its 16-row decode
// tile): i16 pair dots (vpmaddwd + vpaddd for 8 products), or the dot-add form with the stored bytes (w + 128,
// 0…255) as its second operand, 16 products an instruction; the relaxed-SIMD spec leaves bytes past 127 to the
// engine (vpdpbusd reads them unsigned, exactly; a vpmaddubsw lowering saturates, ARM's sdot reads them signed),
// so it is taken only where they read exactly.
// Both forms give the same integer sums, so the same outputs bit for bit, and which is faster depends on the
// engine and the CPU: the backend checks the instruction on exact sums and the kernels in both forms on random
// inputs, and times both forms of q4_0's prefill tile, once, at creation.

import type { Arena } from "./arena.js";

interface ProbeExports {
  dotAddProbe(p: number, mode: number, n: number): number;
}

/** What the probe found. */
export interface DotAddProbe {
  /** The instruction and q4_0's tiles in the dot-add form exact here (i7 second operands, as the spec defines). */
  exact: boolean;
  /** Second operands 128…255 read unsigned without saturation, and q8_0's kernel in the dot-add form exact. */
  unsignedExact: boolean;
  /** Best time of q4_0's tile in the dot-add form / in the u8 form (NaN where not exact). */
  ratio: number;
}

const A = [-128, 127, -1, 1, -127, 100, -50, 3, 0, -128, 64, -64, 127, -2, 9, -9];
const ACC = [1000, -70000, 0, 2 ** 30];
/** i7 second operands: the extremes and mixed signs against A. */
const B7 = [127, 127, 127, 0, 1, 126, 15, 2, 77, 64, 0, 127, 127, 5, 8, 8];
/** Bytes past 127: pairs whose i16 sums would saturate (255 · 127 · 2), and 128 against -128. */
const B8 = [255, 255, 128, 200, 128, 255, 129, 7, 255, 128, 0, 250, 255, 255, 255, 255];

/** One dot-add of A with b plus ACC, against the exact sums (b's bytes read unsigned). */
function checkDot(ex: ProbeExports, bytes: Uint8Array, p: number, b: number[]): boolean {
  const i8 = new Int8Array(bytes.buffer, p, 16), u8 = new Uint8Array(bytes.buffer, p + 16, 16), i32 = new Int32Array(bytes.buffer, p + 32, 8);
  i8.set(A); u8.set(b); i32.set(ACC);
  ex.dotAddProbe(p, 0, 0);
  const want = ACC.map((c, j) => (c + A[4 * j] * b[4 * j] + A[4 * j + 1] * b[4 * j + 1] + A[4 * j + 2] * b[4 * j + 2] + A[4 * j + 3] * b[4 * j + 3]) | 0);
  return want.every((v, j) => i32[4 + j] === v);
}

/** The kernels' own checks (both forms on random inputs, bit for bit): mode 3 q4_0's tiles, 4 q8_0's, 5 q4_K's and q5_K's prefill tile. */
function tilesAgree(ex: ProbeExports, p: number, mode: 3 | 4 | 5): boolean {
  return [1, 0x9e3779b9].every((seed) => ex.dotAddProbe(p, mode, seed) === 0);
}

/** Probe the dot-add forms on a relaxed-SIMD module instance (64 KiB of the arena, released after). */
export function probeDotAdd(ex: ProbeExports, arena: Arena): DotAddProbe {
  const mark = arena.used;
  try { return probeAt(ex, arena.allocBytes(65536), arena); } finally { arena.release(mark); }
}

function probeAt(ex: ProbeExports, p: number, arena: Arena): DotAddProbe {
  const bytes = arena.u8(p, 65536);
  if (!checkDot(ex, bytes, p, B7) || !tilesAgree(ex, p, 3) || !tilesAgree(ex, p, 5)) return { exact: false, unsignedExact: false, ratio: NaN };
  let unsignedExact = checkDot(ex, bytes, p, B8) && tilesAgree(ex, p, 4);
  bytes.fill(0);
  // Alternate the two forms, best of each: the first rounds also carry the engine's tier-up to optimized code.
  const best = [Infinity, Infinity];
  // 16 rounds of ≈ 0.3 ms a call on a 3.6 GHz core: a page's first backend shares the cores with the engine's
  // background compilation, and a best of 10 once came out on the wrong side.
  for (let round = 0; round < 16; round++) {
    for (const mode of [1, 2]) {
      const t0 = performance.now();
      ex.dotAddProbe(p, mode, 500);
      best[mode - 1] = Math.min(best[mode - 1], performance.now() - t0);
    }
  }
  // Once more now that the tiles have run hot (optimized code, whichever tier ran the first checks).
  const exact = tilesAgree(ex, p, 3) && tilesAgree(ex, p, 5);
  unsignedExact &&= tilesAgree(ex, p, 4);
  return { exact, unsignedExact: exact && unsignedExact, ratio: exact ? best[0] / best[1] : NaN };
}
