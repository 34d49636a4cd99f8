// The matmul layouts a linear layer's forward and backward need (llm.c matmul_forward / matmul_backward),
// float32 row-major, for training (kernels/ref has no counterpart: train/autograd/matmul.ts is the TS oracle):
//   matmulNT  out (M, N) (+)= A (M, K) · B (N, K)ᵀ      forward  y = x Wᵀ; backward dx = dy (Wᵀ stored)
//   matmulNN  out (M, N) (+)= A (M, K) · B (K, N)       backward dx = dy W (the vocabulary head)
//   matmulTN  out (M, N) (+)= A (K, M)ᵀ · B (K, N)      attention backward dV += Pᵀ dO, dK += dSᵀ Q
// Each call computes output rows [m0, m1); the glue hands out chunks that are multiples of 4 rows, so the
// tiling (and therefore every sum's order) is the same for any thread count.

import { dotF32, fma, hsum } from "./simd";

const ZERO = f32x4.splat(0);

/**
 * NT: B is walked in blocks of JB rows that stay in L2 while every A row of [m0, m1) passes; inside,
 * tiles of 4 B rows × 2 A rows keep 8 vector accumulators.
 */
export function matmulNT(out: usize, a: usize, b: usize, N: i32, K: i32, acc: i32, m0: i32, m1: i32): void {
  const rb = <usize>K << 2;
  const JB = max(4, (32768 / max(K, 1)) & ~3); // ~128 KB of B a block
  for (let jb = 0; jb < N; jb += JB) {
    const je = min(N, jb + JB);
    let i = m0;
    for (; i + 2 <= m1; i += 2) {
      const x0 = a + <usize>i * rb, x1 = x0 + rb;
      let j = jb;
      for (; j + 4 <= je; j += 4) {
        const b0 = b + <usize>j * rb, b1 = b0 + rb, b2 = b1 + rb, b3 = b2 + rb;
        let a0 = ZERO, a1 = ZERO, a2 = ZERO, a3 = ZERO, c0 = ZERO, c1 = ZERO, c2 = ZERO, c3 = ZERO;
        let k = 0;
        for (; k + 4 <= K; k += 4) {
          const o = <usize>k << 2;
          const xa = v128.load(x0 + o), xb = v128.load(x1 + o);
          let w = v128.load(b0 + o); a0 = fma(w, xa, a0); c0 = fma(w, xb, c0);
          w = v128.load(b1 + o); a1 = fma(w, xa, a1); c1 = fma(w, xb, c1);
          w = v128.load(b2 + o); a2 = fma(w, xa, a2); c2 = fma(w, xb, c2);
          w = v128.load(b3 + o); a3 = fma(w, xa, a3); c3 = fma(w, xb, c3);
        }
        let s0 = hsum(a0), s1 = hsum(a1), s2 = hsum(a2), s3 = hsum(a3);
        let r0 = hsum(c0), r1 = hsum(c1), r2 = hsum(c2), r3 = hsum(c3);
        for (; k < K; k++) {
          const o = <usize>k << 2;
          const xa = load<f32>(x0 + o), xb = load<f32>(x1 + o);
          let w = load<f32>(b0 + o); s0 += w * xa; r0 += w * xb;
          w = load<f32>(b1 + o); s1 += w * xa; r1 += w * xb;
          w = load<f32>(b2 + o); s2 += w * xa; r2 += w * xb;
          w = load<f32>(b3 + o); s3 += w * xa; r3 += w * xb;
        }
        const p0 = out + ((<usize>i * N + j) << 2), p1 = p0 + (<usize>N << 2);
        if (acc) {
          s0 += load<f32>(p0); s1 += load<f32>(p0, 4); s2 += load<f32>(p0, 8); s3 += load<f32>(p0, 12);
          r0 += load<f32>(p1); r1 += load<f32>(p1, 4); r2 += load<f32>(p1, 8); r3 += load<f32>(p1, 12);
        }
        store<f32>(p0, s0); store<f32>(p0, s1, 4); store<f32>(p0, s2, 8); store<f32>(p0, s3, 12);
        store<f32>(p1, r0); store<f32>(p1, r1, 4); store<f32>(p1, r2, 8); store<f32>(p1, r3, 12);
      }
      for (; j < je; j++) {
        const bj = b + <usize>j * rb;
        for (let q = 0; q < 2; q++) {
          const o = out + ((<usize>(i + q) * N + j) << 2);
          store<f32>(o, (acc ? load<f32>(o) : <f32>0) + dotF32(x0 + <usize>q * rb, bj, K));
        }
      }
    }
    for (; i < m1; i++) {
      const x0 = a + <usize>i * rb;
      for (let j = jb; j < je; j++) {
        const o = out + ((<usize>i * N + j) << 2);
        store<f32>(o, (acc ? load<f32>(o) : <f32>0) + dotF32(x0, b + <usize>j * rb, K));
      }
    }
  }
}

/**
 * Shared body of NN and TN: out rows i … i+3, columns j … j+7, as Σ_k A(i, k) · B[k, j … j+7] where
 * A(i, k) = a[i·aRow + k·aCol] (NN: aRow = K, aCol = 1; TN: aRow = 1, aCol = M).
 * 4 rows × 2 vectors = 8 accumulators; per k: 4 splats of A, 2 vector loads of B.
 */
function panel(out: usize, a: usize, b: usize, N: i32, K: i32, m0: i32, m1: i32, aRow: i32, aCol: i32, acc: i32): void {
  const nb = <usize>N << 2, ac = <usize>aCol << 2;
  const KB = 256; // k block: the B panel (KB × 8 floats) stays in L1 across the row tiles
  for (let kb = 0; kb < K; kb += KB) {
    const ke = min(K, kb + KB);
    const first = kb == 0 && acc == 0;
    let j = 0;
    for (; j + 8 <= N; j += 8) {
      let i = m0;
      for (; i + 4 <= m1; i += 4) {
        let c00 = ZERO, c01 = ZERO, c10 = ZERO, c11 = ZERO, c20 = ZERO, c21 = ZERO, c30 = ZERO, c31 = ZERO;
        let pa = a + ((<usize>i * aRow + <usize>kb * aCol) << 2);
        const ar = <usize>aRow << 2;
        let pb = b + ((<usize>kb * N + j) << 2);
        for (let k = kb; k < ke; k++) {
          const v0 = v128.load(pb), v1 = v128.load(pb, 16);
          let s = f32x4.splat(load<f32>(pa)); c00 = fma(s, v0, c00); c01 = fma(s, v1, c01);
          s = f32x4.splat(load<f32>(pa + ar)); c10 = fma(s, v0, c10); c11 = fma(s, v1, c11);
          s = f32x4.splat(load<f32>(pa + 2 * ar)); c20 = fma(s, v0, c20); c21 = fma(s, v1, c21);
          s = f32x4.splat(load<f32>(pa + 3 * ar)); c30 = fma(s, v0, c30); c31 = fma(s, v1, c31);
          pa += ac; pb += nb;
        }
        const o0 = out + ((<usize>i * N + j) << 2), o1 = o0 + nb, o2 = o1 + nb, o3 = o2 + nb;
        if (first) {
          v128.store(o0, c00); v128.store(o0, c01, 16); v128.store(o1, c10); v128.store(o1, c11, 16);
          v128.store(o2, c20); v128.store(o2, c21, 16); v128.store(o3, c30); v128.store(o3, c31, 16);
        } else {
          v128.store(o0, f32x4.add(v128.load(o0), c00)); v128.store(o0, f32x4.add(v128.load(o0, 16), c01), 16);
          v128.store(o1, f32x4.add(v128.load(o1), c10)); v128.store(o1, f32x4.add(v128.load(o1, 16), c11), 16);
          v128.store(o2, f32x4.add(v128.load(o2), c20)); v128.store(o2, f32x4.add(v128.load(o2, 16), c21), 16);
          v128.store(o3, f32x4.add(v128.load(o3), c30)); v128.store(o3, f32x4.add(v128.load(o3, 16), c31), 16);
        }
      }
      for (; i < m1; i++) { // leftover rows
        let c0 = ZERO, c1 = ZERO;
        let pa = a + ((<usize>i * aRow + <usize>kb * aCol) << 2);
        let pb = b + ((<usize>kb * N + j) << 2);
        for (let k = kb; k < ke; k++) {
          const s = f32x4.splat(load<f32>(pa));
          c0 = fma(s, v128.load(pb), c0); c1 = fma(s, v128.load(pb, 16), c1);
          pa += ac; pb += nb;
        }
        const o0 = out + ((<usize>i * N + j) << 2);
        if (first) { v128.store(o0, c0); v128.store(o0, c1, 16); }
        else { v128.store(o0, f32x4.add(v128.load(o0), c0)); v128.store(o0, f32x4.add(v128.load(o0, 16), c1), 16); }
      }
    }
    for (; j < N; j++) { // leftover columns
      for (let i = m0; i < m1; i++) {
        let s: f32 = 0;
        for (let k = kb; k < ke; k++) s += load<f32>(a + ((<usize>i * aRow + <usize>k * aCol) << 2)) * load<f32>(b + ((<usize>k * N + j) << 2));
        const o = out + ((<usize>i * N + j) << 2);
        store<f32>(o, first ? s : load<f32>(o) + s);
      }
    }
  }
}

export function matmulNN(out: usize, a: usize, b: usize, N: i32, K: i32, acc: i32, m0: i32, m1: i32): void {
  panel(out, a, b, N, K, m0, m1, K, 1, acc);
}

export function matmulTN(out: usize, a: usize, b: usize, M: i32, N: i32, K: i32, acc: i32, m0: i32, m1: i32): void {
  panel(out, a, b, N, K, m0, m1, 1, M, acc);
}

/** out (cols, rows) = columns [c0, c0 + cols) of x (rows, stride), transposed; items are out rows [m0, m1). */
export function transpose(out: usize, x: usize, rows: i32, stride: i32, c0: i32, m0: i32, m1: i32): void {
  const BS = 16;
  for (let cb = m0; cb < m1; cb += BS) {
    const ce = min(m1, cb + BS);
    for (let rb = 0; rb < rows; rb += BS) {
      const re = min(rows, rb + BS);
      for (let c = cb; c < ce; c++) {
        const dst = out + ((<usize>c * rows) << 2), src = x + ((<usize>c0 + c) << 2);
        for (let r = rb; r < re; r++) store<f32>(dst + (<usize>r << 2), load<f32>(src + ((<usize>r * stride) << 2)));
      }
    }
  }
}
