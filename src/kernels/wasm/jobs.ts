// The job protocol between the glue and the kernel module (mirrors assembly/index.ts): byte offsets in
// the control block and the op codes. A job = op, item count, chunk size, up to 16 i32/f32 arguments.

export const CTRL_BYTES = 128;
/** Int32 word indexes in the control block. */
export const GEN = 0, COUNTER = 1, DONE = 2, SLEEPERS = 3, STOP = 4, OP = 5, NITEMS = 6, CHUNK = 7, ARGS = 8;
export const MAX_ARGS = 16;
/** Threads taking part in jobs (the caller is thread 0; worker i takes part when i < ACTIVE). */
export const ACTIVE = 30;
/** Set (to the worker's index) by a worker whose kernel trapped: the caller stops waiting and throws. */
export const FAULT = 29;
/** Chunks of the current job whose kernel trapped (they never count in DONE). */
export const TRAPPED = 28;

export const Op = {
  matmulBf16: 2, matmulF16: 3, matmulQ8: 4, matmulQ4: 5,
  quantAct: 6, permuteX: 7, attention: 8, rmsnorm: 9, qkNormRope: 10,
  swiglu: 11, add: 12, repackQ8: 13, repackQ4: 14,
  matmulNT: 15, matmulNN: 16, matmulTN: 17, transpose: 18, ceForward: 19, ceBackward: 20,
  swigluBackward: 21, rmsnormBackward: 22, rmsnormGradW: 23, qkNormRopeBackward: 24, qkNormGradW: 25, splitHeads: 26,
  matmulKQuant: 27, quantActK: 28, repackKQuant: 29, matmulQ5: 30, readSum: 31,
  matvecBf16: 33, matvecF16: 34, matvecQ8: 35, matvecQ4: 36,
  floatRows: 37, interleaveRows: 38, repackHalf: 39, attentionBatch: 40, repackF32: 41, matvecF32: 42,
} as const;

/** The exports of kernels.wasm the glue and the workers call. */
export interface KernelExports {
  runRange(ctrl: number, r0: number, r1: number): void;
  work(ctrl: number, gen: number): void;
  /** Set this instance's thread number (its slice of per-thread scratch). */
  setThread(i: number): void;
  dequantRow(w: number, isQ8: number, K: number, N: number, r: number, shift: number, out: number): void;
  dequantRowK(w: number, kind: number, K: number, r: number, shift: number, out: number): void;
  widenRow(w: number, bytesPer: number, isBf16: number, K: number, r: number, out: number): void;
  argmax(x: number, n: number): number;
  /** The dot-add form's checks and timing (dot_add.ts). */
  dotAddProbe(p: number, mode: number, n: number): number;
  /** The float prefill token tiles' check and timing (float_tile.ts). */
  floatTileProbe(p: number, mode: number, n: number): number;
  /** Rows of the float prefill's interleaved copy of x for T tokens in tiles of g (matmul_float_rows.ts). */
  interleavedRows(T: number, g: number): number;
}
