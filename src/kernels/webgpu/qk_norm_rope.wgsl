// In place on the fused qkv rows (T, (nQ + 2 nKV) hd): per-head RMSNorm of query heads (weight QN) and
// key heads (KN) when hasQ / hasK, then rotate-half RoPE. One workgroup per (head, token) over the
// first nQ + nKV heads; values untouched. cos/sin come with the parameters, computed on the CPU as the
// reference does (f32 angle p·inv_freq[j], then cos/sin in double rounded to f32): GPU cos/sin lose
// accuracy far from 0, and positions reach thousands of radians. cs[t hd + j] = cos, cs[t hd + hd/2 + j] = sin.

struct Params { stride: u32, nQ: u32, hd: u32, off: u32, hasQ: u32, hasK: u32, qnoff: u32, knoff: u32, eps: f32,
  cs: array<f32> }
@group(0) @binding(0) var<storage, read> P: Params;
@group(0) @binding(1) var<storage, read_write> A: array<f32>;
@group(0) @binding(2) var<storage, read> QN: array<f32>;
@group(0) @binding(3) var<storage, read> KN: array<f32>;

var<workgroup> part: array<f32, 64>;

@compute @workgroup_size(64)
fn qk_norm_rope(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wid.x;
  let t = wid.y;
  let hd = P.hd;
  let half = hd / 2u;
  let o = P.off + t * P.stride + h * hd;
  let isQ = h < P.nQ;
  let norm = (isQ && P.hasQ != 0u) || (!isQ && P.hasK != 0u);
  var inv = 1.0;
  if (norm) {
    var ss = 0.0;
    for (var i = lid; i < hd; i += 64u) { let v = A[o + i]; ss += v * v; }
    part[lid] = ss;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s >>= 1u) {
      if (lid < s) { part[lid] += part[lid + s]; }
      workgroupBarrier();
    }
    inv = 1.0 / sqrt(part[0] / f32(hd) + P.eps);
  }
  storageBarrier(); // every thread has read the head before any pair is rewritten
  for (var j = lid; j < half; j += 64u) {
    var x0 = A[o + j];
    var x1 = A[o + j + half];
    if (norm) {
      if (isQ) { x0 = (x0 * inv) * QN[P.qnoff + j]; x1 = (x1 * inv) * QN[P.qnoff + j + half]; }
      else { x0 = (x0 * inv) * KN[P.knoff + j]; x1 = (x1 * inv) * KN[P.knoff + j + half]; }
    }
    let c = P.cs[t * hd + j];
    let s = P.cs[t * hd + half + j];
    A[o + j] = x0 * c - x1 * s;
    A[o + j + half] = x1 * c + x0 * s;
  }
}
