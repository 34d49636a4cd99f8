// out (T, N) = x (T, K) · Wᵀ with W (N, K) in its stored dtype (weights.wgsl, prepended).
// No workgroup memory and no barriers: SwiftShader (the CPU WebGPU that CI runs) pays ~0.5 ms a barrier
// per workgroup, which made a shared-memory reduction 60× slower than these loops.
// matvec: one thread per 4 outputs (n … n+3, t), so each x loaded serves 4 rows (T < 4: decode).
// matmul: each thread a 4 × 4 block (4 tokens × 4 rows) in registers, so every x and widened weight
//   loaded serves 4 multiply-adds; rows and tokens past the edge are clamped on load and not written.
// When K % 4 == 0 both take 4 k a step (w4_at: one or two word loads), summing 4 products before adding
// them to the f32 accumulator; otherwise one k a step. XOFF/OOFF are element offsets into the bound buffers.

struct Params { T: u32, N: u32, K: u32, soff: u32, xoff: u32, ooff: u32 }
@group(0) @binding(0) var<storage, read> P: Params;
@group(0) @binding(2) var<storage, read> X: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;

@compute @workgroup_size(64)
fn matvec(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
  let n0 = ((wid.y * nwg.x + wid.x) * 64u + lid) * 4u;
  let t = wid.z;
  if (n0 >= P.N) { return; }
  var n: array<u32, 4>;
  for (var j = 0u; j < 4u; j++) { n[j] = min(n0 + j, P.N - 1u); }
  let xo = P.xoff + t * P.K;
  var acc = vec4<f32>();
  if (P.K % 4u == 0u) {
    for (var k = 0u; k < P.K; k += 4u) {
      let x = vec4<f32>(X[xo + k], X[xo + k + 1u], X[xo + k + 2u], X[xo + k + 3u]);
      acc += x * mat4x4<f32>(w4_at(n[0], k, P.K, P.soff), w4_at(n[1], k, P.K, P.soff), w4_at(n[2], k, P.K, P.soff), w4_at(n[3], k, P.K, P.soff));
    }
  } else {
    for (var k = 0u; k < P.K; k++) {
      acc += X[xo + k] * vec4<f32>(w_at(n[0], k, P.K, P.soff), w_at(n[1], k, P.K, P.soff), w_at(n[2], k, P.K, P.soff), w_at(n[3], k, P.K, P.soff));
    }
  }
  for (var j = 0u; j < 4u; j++) {
    if (n0 + j < P.N) { O[P.ooff + t * P.N + n0 + j] = acc[j]; }
  }
}

// 8 × 8 threads, each 4 tokens × 4 rows: a workgroup covers 32 tokens × 32 rows.
@compute @workgroup_size(8, 8)
fn matmul(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n0 = gid.x * 4u;
  let t0 = gid.y * 4u;
  if (n0 >= P.N || t0 >= P.T) { return; }
  var n: array<u32, 4>;
  var xo: array<u32, 4>;
  for (var i = 0u; i < 4u; i++) {
    n[i] = min(n0 + i, P.N - 1u);
    xo[i] = P.xoff + min(t0 + i, P.T - 1u) * P.K;
  }
  var acc: array<vec4<f32>, 4>; // acc[token][row]
  if (P.K % 4u == 0u) {
    for (var k = 0u; k < P.K; k += 4u) {
      let w = mat4x4<f32>(w4_at(n[0], k, P.K, P.soff), w4_at(n[1], k, P.K, P.soff), w4_at(n[2], k, P.K, P.soff), w4_at(n[3], k, P.K, P.soff));
      for (var i = 0u; i < 4u; i++) {
        let x = vec4<f32>(X[xo[i] + k], X[xo[i] + k + 1u], X[xo[i] + k + 2u], X[xo[i] + k + 3u]);
        acc[i] += x * w; // row vector × matrix: component j = dot(x, weights k … k+3 of row n[j])
      }
    }
  } else {
    for (var k = 0u; k < P.K; k++) {
      let w = vec4<f32>(w_at(n[0], k, P.K, P.soff), w_at(n[1], k, P.K, P.soff), w_at(n[2], k, P.K, P.soff), w_at(n[3], k, P.K, P.soff));
      for (var i = 0u; i < 4u; i++) { acc[i] += X[xo[i] + k] * w; }
    }
  }
  for (var i = 0u; i < 4u; i++) {
    let t = t0 + i;
    if (t >= P.T) { break; }
    for (var j = 0u; j < 4u; j++) {
      if (n0 + j < P.N) { O[P.ooff + t * P.N + n0 + j] = acc[i][j]; }
    }
  }
}
