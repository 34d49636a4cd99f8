// RMSNorm per row: out = x / sqrt(mean(x²) + eps) * w. One workgroup a row: 64 threads sum squares
// over a stride, a tree sum, then each scales its own elements. rmsnorm_inplace binds one buffer for
// x and out (WebGPU forbids binding one buffer twice where one binding is writable).

struct Params { dim: u32, xoff: u32, ooff: u32, woff: u32, eps: f32 }
@group(0) @binding(0) var<storage, read> P: Params;
@group(0) @binding(1) var<storage, read> Wn: array<f32>;
@group(0) @binding(2) var<storage, read_write> A: array<f32>; // x (and out, in place)
@group(0) @binding(3) var<storage, read_write> O: array<f32>;

var<workgroup> part: array<f32, 64>;

fn inv_rms(xo: u32, lid: u32) -> f32 {
  var ss = 0.0;
  for (var i = lid; i < P.dim; i += 64u) { let v = A[xo + i]; ss += v * v; }
  part[lid] = ss;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (lid < s) { part[lid] += part[lid + s]; }
    workgroupBarrier();
  }
  return 1.0 / sqrt(part[0] / f32(P.dim) + P.eps);
}

@compute @workgroup_size(64)
fn rmsnorm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let xo = P.xoff + wid.x * P.dim;
  let inv = inv_rms(xo, lid);
  let oo = P.ooff + wid.x * P.dim;
  for (var i = lid; i < P.dim; i += 64u) { O[oo + i] = (A[xo + i] * inv) * Wn[P.woff + i]; }
}

@compute @workgroup_size(64)
fn rmsnorm_inplace(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let xo = P.xoff + wid.x * P.dim;
  let inv = inv_rms(xo, lid);
  // each thread rewrites only the elements it read itself, so no storage barrier is needed
  for (var i = lid; i < P.dim; i += 64u) { A[xo + i] = (A[xo + i] * inv) * Wn[P.woff + i]; }
}
