// SwiGLU, residual add, and the embedding row copy (kernels/ref/swiglu.ts, ref/embed.ts).

import { halfToF32 } from "./simd";

/** Rows [r0, r1): out (T, F) = silu(gu[:, :F]) · gu[:, F:]. silu(g) = g / (1 + e^-g): e^-g = inf gives -0, not NaN. */
export function swiglu(out: usize, gu: usize, F: i32, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) {
    const g = gu + ((<usize>r * 2 * F) << 2), u = g + (<usize>F << 2), o = out + ((<usize>r * F) << 2);
    for (let i = 0; i < F; i++) {
      const gi = load<f32>(g + (<usize>i << 2));
      store<f32>(o + (<usize>i << 2), gi / (1 + Mathf.exp(-gi)) * load<f32>(u + (<usize>i << 2)));
    }
  }
}

/** x[i] += y[i] for i in [i0, i1). */
export function addInPlace(x: usize, y: usize, i0: i32, i1: i32): void {
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const o = <usize>i << 2;
    v128.store(x + o, f32x4.add(v128.load(x + o), v128.load(y + o)));
  }
  for (; i < i1; i++) {
    const o = <usize>i << 2;
    store<f32>(x + o, load<f32>(x + o) + load<f32>(y + o));
  }
}

/** Row r of a 16-bit (isBf16 ? bf16 : f16) or f32 matrix with K columns, widened to f32 at out. */
export function widenRow(w: usize, bytesPer: i32, isBf16: bool, K: i32, r: i32, out: usize): void {
  if (bytesPer == 4) {
    memory.copy(out, w + ((<usize>r * K) << 2), <usize>K << 2);
    return;
  }
  const src = w + ((<usize>r * K) << 1);
  for (let k = 0; k < K; k++) {
    const bits = <u32>load<u16>(src + (<usize>k << 1));
    store<f32>(out + (<usize>k << 2), isBf16 ? reinterpret<f32>(bits << 16) : halfToF32(bits));
  }
}
