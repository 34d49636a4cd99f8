// The matmul of matmul.wgsl for real GPUs: workgroup memory and barriers, which SwiftShader pays dearly
// for (see there) but a GPU needs, since its threads of a warp must read neighbouring addresses together
// (coalesced) and share what they load. Same bindings, parameters and weight access (weights.wgsl).
// matvec_wg (T < 4): a workgroup of 64 threads a 4-row group and token; thread i takes k = 4i, 4i + 256, …
//   (neighbouring threads read neighbouring words), the 64 partial sums reduced in workgroup memory.
// matmul_wg: a workgroup of 16 × 16 threads a 64-token × 64-row tile; K in steps of 16, each step's
//   x (64 × 16) and widened weights (64 × 16) staged in workgroup memory, then every thread multiplies
//   its 4 tokens × 4 rows (ty + 16i, tx + 16j) out of it. Needs K % 16 == 0 (matmul.ts checks); rows and
//   tokens past the edge are clamped on load and not written.

struct Params { T: u32, N: u32, K: u32, soff: u32, xoff: u32, ooff: u32 }
@group(0) @binding(0) var<storage, read> P: Params;
@group(0) @binding(2) var<storage, read> X: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;

var<workgroup> red: array<vec4<f32>, 64>;

@compute @workgroup_size(64)
fn matvec_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
  let n0 = (wid.y * nwg.x + wid.x) * 4u;
  let t = wid.z;
  if (n0 >= P.N) { return; } // the whole workgroup: n0 is uniform
  var n: array<u32, 4>;
  for (var j = 0u; j < 4u; j++) { n[j] = min(n0 + j, P.N - 1u); }
  let xo = P.xoff + t * P.K;
  var acc = vec4<f32>();
  for (var k = lid * 4u; k < P.K; k += 256u) {
    let x = vec4<f32>(X[xo + k], X[xo + k + 1u], X[xo + k + 2u], X[xo + k + 3u]);
    acc += x * mat4x4<f32>(w4_at(n[0], k, P.K, P.soff), w4_at(n[1], k, P.K, P.soff), w4_at(n[2], k, P.K, P.soff), w4_at(n[3], k, P.K, P.soff));
  }
  red[lid] = acc;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  if (lid < 4u && n0 + lid < P.N) { O[P.ooff + t * P.N + n0 + lid] = red[0][lid]; }
}

var<workgroup> xs: array<f32, 1024>; // [k][token], 16 × 64
var<workgroup> ws: array<f32, 1024>; // [k][row], 16 × 64

@compute @workgroup_size(16, 16)
fn matmul_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
  let nBase = wid.x * 64u;
  let tBase = wid.y * 64u;
  // Loading: thread lid fetches k … k+3 (k = 4 (lid % 4)) of tile row lid / 4, for x and for the weights.
  let lr = lid >> 2u;
  let lc = (lid & 3u) * 4u;
  let wrow = min(nBase + lr, P.N - 1u);
  let xrow = P.xoff + min(tBase + lr, P.T - 1u) * P.K;
  var acc: array<vec4<f32>, 4>; // acc[i][j]: token ty + 16 i, row tx + 16 j
  for (var k0 = 0u; k0 < P.K; k0 += 16u) {
    let w = w4_at(wrow, k0 + lc, P.K, P.soff);
    let xo = xrow + k0 + lc;
    let x = vec4<f32>(X[xo], X[xo + 1u], X[xo + 2u], X[xo + 3u]);
    for (var j = 0u; j < 4u; j++) {
      ws[(lc + j) * 64u + lr] = w[j];
      xs[(lc + j) * 64u + lr] = x[j];
    }
    workgroupBarrier();
    for (var kk = 0u; kk < 16u; kk++) {
      let a = vec4<f32>(xs[kk * 64u + l.y], xs[kk * 64u + l.y + 16u], xs[kk * 64u + l.y + 32u], xs[kk * 64u + l.y + 48u]);
      let b = vec4<f32>(ws[kk * 64u + l.x], ws[kk * 64u + l.x + 16u], ws[kk * 64u + l.x + 32u], ws[kk * 64u + l.x + 48u]);
      acc[0] += a.x * b;
      acc[1] += a.y * b;
      acc[2] += a.z * b;
      acc[3] += a.w * b;
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let t = tBase + l.y + 16u * i;
    if (t >= P.T) { break; }
    for (var j = 0u; j < 4u; j++) {
      let n = nBase + l.x + 16u * j;
      if (n < P.N) { O[P.ooff + t * P.N + n] = acc[i][j]; }
    }
  }
}
