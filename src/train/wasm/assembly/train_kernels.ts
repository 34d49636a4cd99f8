// @ts-nocheck -- AssemblyScript (built by ../build_kernels.mjs into ../train_kernels_wasm.ts), not TypeScript.
// SIMD matmul kernels for training, the three layouts a linear layer needs (llm.c matmul_forward /
// matmul_backward), all row-major float32 at byte addresses in one shared memory:
//   matmulNT  out (M, N)  = A (M, K) · B (N, K)ᵀ      forward  y = x Wᵀ
//   matmulNN  out (M, N)  = A (M, K) · B (K, N)       backward dx = dy W
//   matmulTN  out (M, N) += A (K, M)ᵀ · B (K, N)      backward dW += dyᵀ x   (accumulates)
// Each call computes output rows [m0, m1), so threads split M. float32 accumulation, mul + add.

const ZERO = f32x4.splat(0);

/** a · b + c: fused in the relaxed-SIMD build (ASC_FEATURE_RELAXED_SIMD is a compile-time constant). */
function fma(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/**
 * NT: out[i, j] = Σ_k A[i, k] · B[j, k]. B is walked in blocks of JB rows that stay in L2 while every
 * A row of [m0, m1) passes; inside, tiles of 4 B rows × 2 A rows keep 8 vector accumulators.
 */
export function matmulNT(out: usize, a: usize, b: usize, M: i32, N: i32, K: i32, acc: i32, m0: i32, m1: i32): void {
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
          store<f32>(o, (acc ? load<f32>(o) : <f32>0) + dot(x0 + <usize>q * rb, bj, K));
        }
      }
    }
    for (; i < m1; i++) {
      const x0 = a + <usize>i * rb;
      for (let j = jb; j < je; j++) {
        const o = out + ((<usize>i * N + j) << 2);
        store<f32>(o, (acc ? load<f32>(o) : <f32>0) + dot(x0, b + <usize>j * rb, K));
      }
    }
  }
}

function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

function dot(x: usize, w: usize, K: i32): f32 {
  let s = ZERO;
  let k = 0;
  for (; k + 4 <= K; k += 4) s = f32x4.add(s, f32x4.mul(v128.load(x + (<usize>k << 2)), v128.load(w + (<usize>k << 2))));
  let r = hsum(s);
  for (; k < K; k++) r += load<f32>(x + (<usize>k << 2)) * load<f32>(w + (<usize>k << 2));
  return r;
}

/**
 * Shared body of NN and TN: out rows i … i+3, columns j … j+7, as Σ_k A(i, k) · B[k, j … j+7] where
 * A(i, k) = a[i·aRow + k·aCol] (NN: aRow = K, aCol = 1; TN: aRow = 1, aCol = M).
 * 4 rows × 2 vectors = 8 accumulators; per k: 4 splats of A, 2 vector loads of B.
 */
function panel(out: usize, a: usize, b: usize, M: i32, N: i32, K: i32, m0: i32, m1: i32, aRow: i32, aCol: i32, acc: i32): void {
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

export function matmulNN(out: usize, a: usize, b: usize, M: i32, N: i32, K: i32, acc: i32, m0: i32, m1: i32): void {
  panel(out, a, b, M, N, K, m0, m1, K, 1, acc);
}

export function matmulTN(out: usize, a: usize, b: usize, M: i32, N: i32, K: i32, acc: i32, m0: i32, m1: i32): void {
  panel(out, a, b, M, N, K, m0, m1, 1, M, acc);
}

// ---------------------------------------------------------------- cross-entropy rows (fused softmax)

const LOG2E = f32x4.splat(1.4426950408889634);
const LN2_HI = f32x4.splat(0.693359375);
const LN2_LO = f32x4.splat(-2.12194440e-4);

/** e^x for 4 lanes: x = n ln2 + r, |r| ≤ ln2/2, degree-6 Taylor in r (rel. error ~1e-7), times 2^n. */
function expv(x: v128): v128 {
  x = f32x4.max(x, f32x4.splat(-87.0));
  const n = f32x4.nearest(f32x4.mul(x, LOG2E));
  const r = f32x4.sub(f32x4.sub(x, f32x4.mul(n, LN2_HI)), f32x4.mul(n, LN2_LO));
  let p = f32x4.splat(1.0 / 720.0);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0 / 120.0));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0 / 24.0));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0 / 6.0));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(0.5));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0));
  const scale = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(n), i32x4.splat(127)), 23);
  return f32x4.mul(p, scale);
}

/**
 * Rows [m0, m1) of logits (rows × V): lse[row] = logsumexp, tl[row] = logit of the target; rows whose
 * target (i32) is -100 get lse 0. The sum of exponentials runs in float64 per lane pair.
 */
export function ceForward(logits: usize, V: i32, targets: usize, lse: usize, tl: usize, m0: i32, m1: i32): void {
  for (let r = m0; r < m1; r++) {
    const y = load<i32>(targets + (<usize>r << 2));
    if (y == -100) { store<f32>(lse + (<usize>r << 2), 0); store<f32>(tl + (<usize>r << 2), 0); continue; }
    const row = logits + ((<usize>r * V) << 2);
    let mv = f32x4.splat(-Infinity);
    let i = 0;
    for (; i + 4 <= V; i += 4) mv = f32x4.max(mv, v128.load(row + (<usize>i << 2)));
    let mx = max(max(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1)), max(f32x4.extract_lane(mv, 2), f32x4.extract_lane(mv, 3)));
    for (let k = i; k < V; k++) mx = max(mx, load<f32>(row + (<usize>k << 2)));
    const ms = f32x4.splat(mx);
    let sum: f64 = 0;
    i = 0;
    for (; i + 64 <= V; i += 64) { // 16 vectors summed in f32, then into the f64 total
      let s = f32x4.splat(0);
      for (let q = 0; q < 64; q += 4) s = f32x4.add(s, expv(f32x4.sub(v128.load(row + (<usize>(i + q) << 2)), ms)));
      sum += <f64>(f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1)) + <f64>(f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3));
    }
    for (; i < V; i++) sum += Math.exp(<f64>(load<f32>(row + (<usize>i << 2)) - mx));
    store<f32>(lse + (<usize>r << 2), <f32>(<f64>mx + Math.log(sum)));
    store<f32>(tl + (<usize>r << 2), load<f32>(row + (<usize>y << 2)));
  }
}

/** In place: logits rows become (cs + zs·lse) · softmax − cs · onehot(target); ignored rows become 0. */
export function ceBackward(logits: usize, V: i32, targets: usize, lse: usize, cs: f32, zs: f32, m0: i32, m1: i32): void {
  for (let r = m0; r < m1; r++) {
    const y = load<i32>(targets + (<usize>r << 2));
    const row = logits + ((<usize>r * V) << 2);
    if (y == -100) { memory.fill(row, 0, <usize>V << 2); continue; }
    const l = load<f32>(lse + (<usize>r << 2));
    const f: f32 = cs + zs * l;
    const ls = f32x4.splat(l), fs = f32x4.splat(f);
    let i = 0;
    for (; i + 4 <= V; i += 4) {
      const o = row + (<usize>i << 2);
      v128.store(o, f32x4.mul(expv(f32x4.sub(v128.load(o), ls)), fs));
    }
    for (; i < V; i++) {
      const o = row + (<usize>i << 2);
      store<f32>(o, <f32>Math.exp(<f64>(load<f32>(o) - l)) * f);
    }
    const t = row + (<usize>y << 2);
    store<f32>(t, load<f32>(t) - cs);
  }
}

/** out (cols, rows) = columns [c0, c0 + cols) of x (rows, stride), transposed; threads split the out rows. */
export function transpose(out: usize, x: usize, rows: i32, cols: i32, stride: i32, c0: i32, m0: i32, m1: i32): void {
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

// ---------------------------------------------------------------- SwiGLU rows

/** out (rows, F) = silu(gate) · up for rows [m0, m1) of gu (rows, 2F) = [gate | up]. */
export function swigluForward(out: usize, gu: usize, F: i32, m0: i32, m1: i32): void {
  const one = f32x4.splat(1);
  for (let r = m0; r < m1; r++) {
    const g0 = gu + ((<usize>r * 2 * F) << 2), u0 = g0 + (<usize>F << 2), o0 = out + ((<usize>r * F) << 2);
    let f = 0;
    for (; f + 4 <= F; f += 4) {
      const o = <usize>f << 2;
      const g = v128.load(g0 + o);
      const sig = f32x4.div(one, f32x4.add(one, expv(f32x4.neg(g))));
      v128.store(o0 + o, f32x4.mul(f32x4.mul(g, sig), v128.load(u0 + o)));
    }
    for (; f < F; f++) {
      const o = <usize>f << 2;
      const g = load<f32>(g0 + o);
      store<f32>(o0 + o, g / (1 + <f32>Math.exp(-<f64>g)) * load<f32>(u0 + o));
    }
  }
}

/** dgu (rows, 2F) from dout (rows, F): d gate = d · up · σ(g)(1 + g(1 − σ(g))), d up = d · silu(g). */
export function swigluBackward(dgu: usize, dout: usize, gu: usize, F: i32, m0: i32, m1: i32): void {
  const one = f32x4.splat(1);
  for (let r = m0; r < m1; r++) {
    const g0 = gu + ((<usize>r * 2 * F) << 2), u0 = g0 + (<usize>F << 2);
    const dg0 = dgu + ((<usize>r * 2 * F) << 2), du0 = dg0 + (<usize>F << 2), d0 = dout + ((<usize>r * F) << 2);
    let f = 0;
    for (; f + 4 <= F; f += 4) {
      const o = <usize>f << 2;
      const g = v128.load(g0 + o), u = v128.load(u0 + o), d = v128.load(d0 + o);
      const sig = f32x4.div(one, f32x4.add(one, expv(f32x4.neg(g))));
      v128.store(dg0 + o, f32x4.mul(f32x4.mul(d, u), f32x4.mul(sig, f32x4.add(one, f32x4.mul(g, f32x4.sub(one, sig))))));
      v128.store(du0 + o, f32x4.mul(d, f32x4.mul(g, sig)));
    }
    for (; f < F; f++) {
      const o = <usize>f << 2;
      const g = load<f32>(g0 + o), u = load<f32>(u0 + o), d = load<f32>(d0 + o);
      const sig = <f32>(1 / (1 + Math.exp(-<f64>g)));
      store<f32>(dg0 + o, d * u * sig * (1 + g * (1 - sig)));
      store<f32>(du0 + o, d * g * sig);
    }
  }
}
