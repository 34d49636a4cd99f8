// RMSNorm per row: out = x / sqrt(mean(x²) + eps) * w; one thread a row (no barriers: see matmul.wgsl).
// The _wg entry points (GPUs): a workgroup of 256 threads a row, the sum of squares reduced in workgroup
// memory; one thread walking a 1280-wide row alone waits on each load in turn, milliseconds a decode step.
// rmsnorm_inplace binds one buffer for x and out (WebGPU forbids binding one buffer twice where one
// binding is writable).

struct Params { rows: u32, dim: u32, xoff: u32, ooff: u32, woff: u32, eps: f32 }
@group(0) @binding(0) var<storage, read> P: Params;
@group(0) @binding(1) var<storage, read> Wn: array<f32>;
@group(0) @binding(2) var<storage, read_write> A: array<f32>; // x (and out, in place)
@group(0) @binding(3) var<storage, read_write> O: array<f32>;

fn inv_rms(xo: u32) -> f32 {
  var ss = 0.0;
  for (var i = 0u; i < P.dim; i++) { let v = A[xo + i]; ss += v * v; }
  return 1.0 / sqrt(ss / f32(P.dim) + P.eps);
}

@compute @workgroup_size(64)
fn rmsnorm(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r = gid.x;
  if (r >= P.rows) { return; }
  let xo = P.xoff + r * P.dim;
  let oo = P.ooff + r * P.dim;
  let inv = inv_rms(xo);
  for (var i = 0u; i < P.dim; i++) { O[oo + i] = (A[xo + i] * inv) * Wn[P.woff + i]; }
}

@compute @workgroup_size(64)
fn rmsnorm_inplace(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r = gid.x;
  if (r >= P.rows) { return; }
  let xo = P.xoff + r * P.dim;
  let inv = inv_rms(xo);
  for (var i = 0u; i < P.dim; i++) { A[xo + i] = (A[xo + i] * inv) * Wn[P.woff + i]; }
}

var<workgroup> red: array<f32, 256>;

fn inv_rms_wg(xo: u32, lid: u32) -> f32 {
  var ss = 0.0;
  for (var i = lid; i < P.dim; i += 256u) { let v = A[xo + i]; ss += v * v; }
  red[lid] = ss;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  return 1.0 / sqrt(red[0] / f32(P.dim) + P.eps);
}

@compute @workgroup_size(256)
fn rmsnorm_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
  let r = wid.y * nwg.x + wid.x;
  if (r >= P.rows) { return; } // the whole workgroup
  let xo = P.xoff + r * P.dim;
  let oo = P.ooff + r * P.dim;
  let inv = inv_rms_wg(xo, lid);
  for (var i = lid; i < P.dim; i += 256u) { O[oo + i] = (A[xo + i] * inv) * Wn[P.woff + i]; }
}

@compute @workgroup_size(256)
fn rmsnorm_inplace_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) lid: u32) {
  let r = wid.y * nwg.x + wid.x;
  if (r >= P.rows) { return; }
  let xo = P.xoff + r * P.dim;
  let inv = inv_rms_wg(xo, lid); // every read of the row is before its barriers
  for (var i = lid; i < P.dim; i += 256u) { A[xo + i] = (A[xo + i] * inv) * Wn[P.woff + i]; }
}
