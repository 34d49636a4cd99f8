// In place on the fused qkv rows (T, (nQ + 2 nKV) hd): per-head RMSNorm of query heads (weight QN) and
// key heads (KN) when hasQ / hasK, then rotate-half RoPE; one thread per (head, token) over the first
// nQ + nKV heads, values untouched. cos/sin come with the parameters, computed on the CPU as the
// reference does (f32 angle p·inv_freq[j], then cos/sin rounded to f32): GPU cos/sin lose accuracy far
// from 0, and positions reach thousands of radians. cs[t hd + j] = cos, cs[t hd + hd/2 + j] = sin.
// qk_norm_rope_wg (GPUs): a workgroup of 64 threads a (head, token), the sum of squares reduced in
// workgroup memory, thread j rotating pairs (j, j + hd/2), (j + 64, …).

struct Params { T: u32, heads: u32, stride: u32, nQ: u32, hd: u32, off: u32, hasQ: u32, hasK: u32, qnoff: u32,
  knoff: u32, eps: f32, cs: array<f32> }
@group(0) @binding(0) var<storage, read> P: Params;
@group(0) @binding(1) var<storage, read_write> A: array<f32>;
@group(0) @binding(2) var<storage, read> QN: array<f32>;
@group(0) @binding(3) var<storage, read> KN: array<f32>;

/** Pair (j, j + hd/2) of the head at o, token t: normalized (norm) with the q or k weight, then rotated. */
fn rotate_pair(o: u32, t: u32, j: u32, isQ: bool, norm: bool, inv: f32) {
  let hd = P.hd;
  let half = hd / 2u;
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

@compute @workgroup_size(64)
fn qk_norm_rope(@builtin(global_invocation_id) gid: vec3<u32>) {
  let h = gid.x;
  let t = gid.y;
  if (h >= P.heads || t >= P.T) { return; }
  let hd = P.hd;
  let half = hd / 2u;
  let o = P.off + t * P.stride + h * hd;
  let isQ = h < P.nQ;
  let norm = select(P.hasK, P.hasQ, isQ) != 0u;
  var inv = 1.0;
  if (norm) {
    var ss = 0.0;
    for (var i = 0u; i < hd; i++) { let v = A[o + i]; ss += v * v; }
    inv = 1.0 / sqrt(ss / f32(hd) + P.eps);
  }
  for (var j = 0u; j < half; j++) { rotate_pair(o, t, j, isQ, norm, inv); }
}

var<workgroup> red: array<f32, 64>;

@compute @workgroup_size(64)
fn qk_norm_rope_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = wid.y;
  let o = P.off + t * P.stride + wid.x * P.hd;
  let isQ = wid.x < P.nQ;
  let norm = select(P.hasK, P.hasQ, isQ) != 0u;
  var ss = 0.0;
  for (var i = lid; i < P.hd; i += 64u) { let v = A[o + i]; ss += v * v; }
  red[lid] = ss;
  workgroupBarrier(); // also: every read of the head before any write
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  let inv = select(1.0, 1.0 / sqrt(red[0] / f32(P.hd) + P.eps), norm);
  for (var j = lid; j < P.hd / 2u; j += 64u) { rotate_pair(o, t, j, isQ, norm, inv); }
}
