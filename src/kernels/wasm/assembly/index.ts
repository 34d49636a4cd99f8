// Entry of the kernel module: the job protocol shared by the main thread and the pool's workers.
// A job is an op code, a count of work items (rows, heads, tokens), a chunk size and up to 16 arguments,
// written by the glue into a control block in the shared memory. Every thread calls work(ctrl, gen): it
// claims chunks by decrementing COUNTER, whose top 12 bits carry the job's generation so a thread that
// wakes late for an old job claims nothing (and therefore never reads half-written arguments), and counts
// each finished chunk in DONE. Layout (byte offsets) mirrored in ../jobs.ts.

import { matmulFloatRows, interleaveRows, interleavedRows, floatTileProbe, matvecF32, repackF32 } from "./matmul_float_rows";
import { matmulHalf, matvecHalfRows, permuteX, repackHalf } from "./matmul_half";
import { matmulQuant, matmulQuantPairs, quantizeAct, repackQuant, dequantRow, dotAddProbe } from "./matmul_quant";
import { matmulKQuant, matmulQ5, quantizeActK, repackKQuant, dequantRowK } from "./matmul_kquant";
import { rmsnorm, qkNormRope, rmsnormBackward, rmsnormGradW, qkNormRopeBackward, qkNormGradW, splitHeads } from "./norm";
import { attention, attentionBatch } from "./attention";
import { swiglu, swigluBackward, addInPlace, widenRow, argmax } from "./elementwise";
import { matmulNT, matmulNN, matmulTN, transpose } from "./matmul_grad";
import { ceForward, ceBackward } from "./cross_entropy";

export { repackQuant, dequantRow, dequantRowK, widenRow, argmax, dotAddProbe, floatTileProbe, interleavedRows };

const COUNTER = 4, DONE = 8, OP = 20, NITEMS = 24, CHUNK = 28, ARGS = 32;

const OP_MATMUL_BF16 = 2, OP_MATMUL_F16 = 3, OP_MATMUL_Q8 = 4, OP_MATMUL_Q4 = 5,
  OP_QUANT_ACT = 6, OP_PERMUTE_X = 7, OP_ATTENTION = 8, OP_RMSNORM = 9, OP_QK_NORM_ROPE = 10,
  OP_SWIGLU = 11, OP_ADD = 12, OP_REPACK_Q8 = 13, OP_REPACK_Q4 = 14,
  // training: the other matmul layouts, fused cross-entropy, backward rules
  OP_MATMUL_NT = 15, OP_MATMUL_NN = 16, OP_MATMUL_TN = 17, OP_TRANSPOSE = 18, OP_CE_FORWARD = 19, OP_CE_BACKWARD = 20,
  OP_SWIGLU_BACKWARD = 21, OP_RMSNORM_BACKWARD = 22, OP_RMSNORM_GRAD_W = 23, OP_QK_NORM_ROPE_BACKWARD = 24,
  OP_QK_NORM_GRAD_W = 25, OP_SPLIT_HEADS = 26,
  OP_MATMUL_KQ = 27, OP_QUANT_ACT_K = 28, OP_REPACK_KQ = 29, OP_MATMUL_Q5 = 30, OP_READ_SUM = 31,
  // small batches: a few activation rows against each weight row while it is in registers (or, quantized, in scratch)
  OP_MATVEC_BF16 = 33, OP_MATVEC_F16 = 34, OP_MATVEC_Q8 = 35, OP_MATVEC_Q4 = 36,
  // prefill with float weights (16-bit ones widened once per token block), tokens interleaved by the tile's 4 or 6
  OP_FLOAT_ROWS = 37, OP_INTERLEAVE_ROWS = 38,
  // bf16 / f16 weights into groups of 8 rows interleaved chunk by chunk
  OP_REPACK_HALF = 39,
  // one batched step's attention over several sequences' caches
  OP_ATTENTION_BATCH = 40,
  // f32 weights: repacked at load into groups of 8 rows, k-major; a decode step's matvec over them
  OP_REPACK_F32 = 41, OP_MATVEC_F32 = 42;

/** This instance's thread number (0: the calling thread; workers set theirs): its slice of per-thread scratch. */
let thread: i32 = 0;
export function setThread(i: i32): void { thread = i; }

// @ts-ignore: decorator
@inline function ai(ctrl: usize, i: i32): i32 { return load<i32>(ctrl + ARGS + (<usize>i << 2)); }
// @ts-ignore: decorator
@inline function ap(ctrl: usize, i: i32): usize { return <usize>load<u32>(ctrl + ARGS + (<usize>i << 2)); }
// @ts-ignore: decorator
@inline function af(ctrl: usize, i: i32): f32 { return load<f32>(ctrl + ARGS + (<usize>i << 2)); }

/** Run work items [r0, r1) of the job described at ctrl. */
export function runRange(ctrl: usize, r0: i32, r1: i32): void {
  switch (load<i32>(ctrl + OP)) {
    case OP_MATMUL_BF16: matmulHalf<u16>(ap(ctrl, 0), ap(ctrl, 1), ap(ctrl, 2), ai(ctrl, 3), ai(ctrl, 4), ai(ctrl, 5), r0, r1); break;
    case OP_MATMUL_F16: matmulHalf<i16>(ap(ctrl, 0), ap(ctrl, 1), ap(ctrl, 2), ai(ctrl, 3), ai(ctrl, 4), ai(ctrl, 5), r0, r1); break;
    case OP_MATMUL_Q8: case OP_MATMUL_Q4: {
      // args: out, q16, q8, dx, corr, w, T, N, K, scratch, scratch bytes a thread, q4_0 dot-add form (matmul_quant.ts dotAdd)
      const s = ap(ctrl, 9) + <usize>thread * ap(ctrl, 10);
      if (load<i32>(ctrl + OP) == OP_MATMUL_Q8 && ai(ctrl, 11)) matmulQuant<i32>(ap(ctrl, 0), ap(ctrl, 1), ap(ctrl, 2), ap(ctrl, 3), ap(ctrl, 4), ap(ctrl, 5), ai(ctrl, 6), ai(ctrl, 7), ai(ctrl, 8), s, r0, r1);
      else if (load<i32>(ctrl + OP) == OP_MATMUL_Q8)
        matmulQuant<i8>(ap(ctrl, 0), ap(ctrl, 1), ap(ctrl, 2), ap(ctrl, 3), ap(ctrl, 4), ap(ctrl, 5), ai(ctrl, 6), ai(ctrl, 7), ai(ctrl, 8), s, r0, r1);
      else if (ai(ctrl, 11)) matmulQuant<u32>(ap(ctrl, 0), ap(ctrl, 1), ap(ctrl, 2), ap(ctrl, 3), ap(ctrl, 4), ap(ctrl, 5), ai(ctrl, 6), ai(ctrl, 7), ai(ctrl, 8), s, r0, r1);
      else matmulQuant<u8>(ap(ctrl, 0), ap(ctrl, 1), ap(ctrl, 2), ap(ctrl, 3), ap(ctrl, 4), ap(ctrl, 5), ai(ctrl, 6), ai(ctrl, 7), ai(ctrl, 8), s, r0, r1);
      break;
    }
    case OP_MATVEC_F32: matvecF32(ap(ctrl, 0), ap(ctrl, 1), ap(ctrl, 2), ai(ctrl, 3), ai(ctrl, 4), ai(ctrl, 5), r0, r1); break;
    case OP_REPACK_F32: repackF32(ap(ctrl, 0), ai(ctrl, 1), ap(ctrl, 2), ai(ctrl, 3), r0, r1); break; // args: staged, K, dst, first row
    case OP_MATVEC_BF16: matvecHalfRows<u16>(ap(ctrl, 0), ap(ctrl, 1), ap(ctrl, 2), ai(ctrl, 3), ai(ctrl, 4), ai(ctrl, 5), r0, r1); break;
    case OP_MATVEC_F16: matvecHalfRows<i16>(ap(ctrl, 0), ap(ctrl, 1), ap(ctrl, 2), ai(ctrl, 3), ai(ctrl, 4), ai(ctrl, 5), r0, r1); break;
    case OP_MATVEC_Q8: case OP_MATVEC_Q4: {
      // args: out, q16, q8, dx, corr, w, T, N, K, scratch, scratch bytes a thread, q4_0 dot-add form (matmul_quant.ts dotAdd)
      const s = ap(ctrl, 9) + <usize>thread * ap(ctrl, 10);
      if (load<i32>(ctrl + OP) == OP_MATVEC_Q8 && ai(ctrl, 11)) matmulQuantPairs<i32>(ap(ctrl, 0), ap(ctrl, 1), ap(ctrl, 2), ap(ctrl, 3), ap(ctrl, 4), ap(ctrl, 5), ai(ctrl, 6), ai(ctrl, 7), ai(ctrl, 8), s, r0, r1);
      else if (load<i32>(ctrl + OP) == OP_MATVEC_Q8)
        matmulQuantPairs<i8>(ap(ctrl, 0), ap(ctrl, 1), ap(ctrl, 2), ap(ctrl, 3), ap(ctrl, 4), ap(ctrl, 5), ai(ctrl, 6), ai(ctrl, 7), ai(ctrl, 8), s, r0, r1);
      else if (ai(ctrl, 11)) matmulQuantPairs<u32>(ap(ctrl, 0), ap(ctrl, 1), ap(ctrl, 2), ap(ctrl, 3), ap(ctrl, 4), ap(ctrl, 5), ai(ctrl, 6), ai(ctrl, 7), ai(ctrl, 8), s, r0, r1);
      else matmulQuantPairs<u8>(ap(ctrl, 0), ap(ctrl, 1), ap(ctrl, 2), ap(ctrl, 3), ap(ctrl, 4), ap(ctrl, 5), ai(ctrl, 6), ai(ctrl, 7), ai(ctrl, 8), s, r0, r1);
      break;
    }
    case OP_FLOAT_ROWS: {
      // args: out, xt, w, T, N, K, scratch, scratch bytes a thread, weight kind (0 f32, 1 bf16, 2 f16), tokens a tile (4, 6)
      const s = ap(ctrl, 6) + <usize>thread * ap(ctrl, 7), kind = ai(ctrl, 8), g = ai(ctrl, 9);
      if (kind == 0) matmulFloatRows<f32>(ap(ctrl, 0), ap(ctrl, 1), ap(ctrl, 2), ai(ctrl, 3), ai(ctrl, 4), ai(ctrl, 5), g, s, r0, r1);
      else if (kind == 1) matmulFloatRows<u16>(ap(ctrl, 0), ap(ctrl, 1), ap(ctrl, 2), ai(ctrl, 3), ai(ctrl, 4), ai(ctrl, 5), g, s, r0, r1);
      else matmulFloatRows<i16>(ap(ctrl, 0), ap(ctrl, 1), ap(ctrl, 2), ai(ctrl, 3), ai(ctrl, 4), ai(ctrl, 5), g, s, r0, r1);
      break;
    }
    case OP_INTERLEAVE_ROWS: interleaveRows(ap(ctrl, 0), ap(ctrl, 1), ai(ctrl, 2), ai(ctrl, 3), ai(ctrl, 4), r0, r1); break;
    case OP_QUANT_ACT: // args: x, K, q16, q8, dx, corr, interleaved, dscale (f32)
      quantizeAct(ap(ctrl, 0), ai(ctrl, 1), ap(ctrl, 2), ap(ctrl, 3), ap(ctrl, 4), ap(ctrl, 5), ai(ctrl, 6) != 0, af(ctrl, 7), r0, r1);
      break;
    case OP_PERMUTE_X: permuteX(ap(ctrl, 0), ap(ctrl, 1), ai(ctrl, 2), r0, r1); break;
    case OP_ATTENTION: // scratch: 2 rows of sMax floats a thread
      attention(ap(ctrl, 0), ap(ctrl, 1), ai(ctrl, 2), ap(ctrl, 3), ap(ctrl, 4), ai(ctrl, 5), ai(ctrl, 6),
        ai(ctrl, 7), ai(ctrl, 8), ai(ctrl, 9), ap(ctrl, 10) + ((<usize>thread * ai(ctrl, 11)) << 3), ai(ctrl, 11), r0, r1);
      break;
    case OP_ATTENTION_BATCH: // args: descriptors, segments, qStride, nQ, nKV, hd, scratch, sMax
      attentionBatch(ap(ctrl, 0), ai(ctrl, 1), ai(ctrl, 2), ai(ctrl, 3), ai(ctrl, 4), ai(ctrl, 5),
        ap(ctrl, 6) + ((<usize>thread * ai(ctrl, 7)) << 3), ai(ctrl, 7), r0, r1);
      break;
    case OP_RMSNORM: rmsnorm(ap(ctrl, 0), ap(ctrl, 1), ap(ctrl, 2), ai(ctrl, 3), af(ctrl, 4), r0, r1); break;
    case OP_QK_NORM_ROPE:
      qkNormRope(ap(ctrl, 0), ai(ctrl, 1), ai(ctrl, 2), ai(ctrl, 3), ap(ctrl, 4), ap(ctrl, 5), af(ctrl, 6),
        ai(ctrl, 7), ap(ctrl, 8), ap(ctrl, 9), r0, r1);
      break;
    case OP_SWIGLU: swiglu(ap(ctrl, 0), ap(ctrl, 1), ai(ctrl, 2), r0, r1); break;
    case OP_ADD: addInPlace(ap(ctrl, 0), ap(ctrl, 1), r0, r1); break;
    case OP_REPACK_HALF: repackHalf(ap(ctrl, 0), ai(ctrl, 1), ap(ctrl, 2), ai(ctrl, 3), r0, r1); break;
    case OP_REPACK_Q8: case OP_REPACK_Q4:
      // args: staged blocks, K, dst, first row, scale shift, overflow flag, rows of the matrix
      repackQuant(ap(ctrl, 0), load<i32>(ctrl + OP) == OP_REPACK_Q8, ai(ctrl, 1), ai(ctrl, 6), ap(ctrl, 2), ai(ctrl, 3), ai(ctrl, 4), ap(ctrl, 5), r0, r1);
      break;
    case OP_QUANT_ACT_K: quantizeActK(ap(ctrl, 0), ai(ctrl, 1), ap(ctrl, 2), ap(ctrl, 3), ap(ctrl, 4), ap(ctrl, 5), af(ctrl, 6), r0, r1); break;
    case OP_MATMUL_KQ:
      matmulKQuant(ap(ctrl, 0), ap(ctrl, 1), ap(ctrl, 2), ap(ctrl, 3), ap(ctrl, 4), ap(ctrl, 5), ai(ctrl, 6),
        ai(ctrl, 7), ai(ctrl, 8), ai(ctrl, 9), r0, r1);
      break;
    case OP_MATMUL_Q5:
      matmulQ5(ap(ctrl, 0), ap(ctrl, 1), ap(ctrl, 2), ap(ctrl, 3), ap(ctrl, 4), ai(ctrl, 5) != 0,
        ai(ctrl, 6), ai(ctrl, 7), ai(ctrl, 8), r0, r1);
      break;
    case OP_REPACK_KQ: repackKQuant(ap(ctrl, 0), ai(ctrl, 1), ai(ctrl, 2), ap(ctrl, 3), ai(ctrl, 4), ai(ctrl, 5), ap(ctrl, 6), r0, r1); break;
    case OP_READ_SUM: readSum(ap(ctrl, 0), ap(ctrl, 1), r0, r1); break;
    case OP_MATMUL_NT: matmulNT(ap(ctrl, 0), ap(ctrl, 1), ap(ctrl, 2), ai(ctrl, 3), ai(ctrl, 4), ai(ctrl, 5), r0, r1); break;
    case OP_MATMUL_NN: matmulNN(ap(ctrl, 0), ap(ctrl, 1), ap(ctrl, 2), ai(ctrl, 3), ai(ctrl, 4), ai(ctrl, 5), r0, r1); break;
    case OP_MATMUL_TN: matmulTN(ap(ctrl, 0), ap(ctrl, 1), ap(ctrl, 2), ai(ctrl, 3), ai(ctrl, 4), ai(ctrl, 5), ai(ctrl, 6), r0, r1); break;
    case OP_TRANSPOSE: transpose(ap(ctrl, 0), ap(ctrl, 1), ai(ctrl, 2), ai(ctrl, 3), ai(ctrl, 4), r0, r1); break;
    case OP_CE_FORWARD: ceForward(ap(ctrl, 0), ai(ctrl, 1), ap(ctrl, 2), ap(ctrl, 3), ap(ctrl, 4), r0, r1); break;
    case OP_CE_BACKWARD: ceBackward(ap(ctrl, 0), ai(ctrl, 1), ap(ctrl, 2), ap(ctrl, 3), af(ctrl, 4), af(ctrl, 5), r0, r1); break;
    case OP_SWIGLU_BACKWARD: swigluBackward(ap(ctrl, 0), ap(ctrl, 1), ap(ctrl, 2), ai(ctrl, 3), r0, r1); break;
    case OP_RMSNORM_BACKWARD:
      rmsnormBackward(ap(ctrl, 0), ap(ctrl, 1), ap(ctrl, 2), ap(ctrl, 3), ai(ctrl, 4), af(ctrl, 5), ai(ctrl, 6), ap(ctrl, 7), r0, r1);
      break;
    case OP_RMSNORM_GRAD_W: rmsnormGradW(ap(ctrl, 0), ap(ctrl, 1), ap(ctrl, 2), ap(ctrl, 3), ai(ctrl, 4), ai(ctrl, 5), ap(ctrl, 6), r0, r1); break;
    case OP_QK_NORM_ROPE_BACKWARD:
      qkNormRopeBackward(ap(ctrl, 0), ap(ctrl, 1), ap(ctrl, 2), ai(ctrl, 3), ai(ctrl, 4), ai(ctrl, 5), ap(ctrl, 6), ap(ctrl, 7),
        af(ctrl, 8), ai(ctrl, 9), ap(ctrl, 10), ap(ctrl, 11), ap(ctrl, 12), r0, r1);
      break;
    case OP_QK_NORM_GRAD_W:
      qkNormGradW(ap(ctrl, 0), ap(ctrl, 1), ap(ctrl, 2), ap(ctrl, 3), ap(ctrl, 4), ai(ctrl, 5), ai(ctrl, 6), ai(ctrl, 7), ai(ctrl, 8),
        ap(ctrl, 9), r0, r1);
      break;
    case OP_SPLIT_HEADS:
      splitHeads(ap(ctrl, 0), ap(ctrl, 1), ap(ctrl, 2), ap(ctrl, 3), ai(ctrl, 4), ai(ctrl, 5), ai(ctrl, 6), ai(ctrl, 7), ai(ctrl, 8), r0, r1);
      break;
    default: unreachable();
  }
}

/**
 * Memory read bandwidth probe: items are 64 KiB pieces of the buffer at p; each piece's bytes are summed
 * (as i32x4, 64 bytes a step) into out + 16·item, so no load is dead.
 */
function readSum(p: usize, out: usize, r0: i32, r1: i32): void {
  for (let i = r0; i < r1; i++) {
    const b = p + (<usize>i << 16);
    let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
    for (let o: usize = 0; o < 65536; o += 64) {
      a0 = i32x4.add(a0, v128.load(b + o)); a1 = i32x4.add(a1, v128.load(b + o, 16));
      a2 = i32x4.add(a2, v128.load(b + o, 32)); a3 = i32x4.add(a3, v128.load(b + o, 48));
    }
    v128.store(out + (<usize>i << 4), i32x4.add(i32x4.add(a0, a1), i32x4.add(a2, a3)));
  }
}

/** Claim and run chunks of job generation gen until none are left. */
export function work(ctrl: usize, gen: i32): void {
  const tag = (gen & 0xfff) << 20;
  while (true) {
    const c = atomic.load<i32>(ctrl + COUNTER);
    if ((c & 0xfff00000) != tag) return;
    const left = c & 0xfffff;
    if (left == 0) return;
    if (atomic.cmpxchg<i32>(ctrl + COUNTER, c, c - 1) != c) continue;
    const idx = left - 1;
    const chunk = load<i32>(ctrl + CHUNK);
    const r0 = idx * chunk;
    runRange(ctrl, r0, min(load<i32>(ctrl + NITEMS), r0 + chunk));
    atomic.add<i32>(ctrl + DONE, 1);
  }
}
