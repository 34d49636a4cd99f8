// out (T, N) = x (T, K) · Wᵀ with W (N, K) in its stored dtype (weights.wgsl, prepended).
// matvec: one workgroup per output (n, t); 64 threads stride over k, then a tree sum. For T < 4 (decode),
//   where a tile would leave most of its threads idle.
// matmul: 16×16 output tiles (tokens × rows), x and widened W staged through workgroup memory 16 k at a
//   time (the classic shared-memory tiled GEMM); out-of-range elements load as 0, so any T, N, K works.
// Offsets (XOFF, OOFF) are element offsets into the bound buffers; f32 accumulation throughout.

struct Params { T: u32, N: u32, K: u32, soff: u32, xoff: u32, ooff: u32 }
@group(0) @binding(0) var<storage, read> P: Params;
@group(0) @binding(2) var<storage, read> X: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;

var<workgroup> part: array<f32, 64>;

@compute @workgroup_size(64)
fn matvec(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
  let n = wid.y * nwg.x + wid.x;
  let t = wid.z;
  if (n >= P.N) { return; }
  let xo = P.xoff + t * P.K;
  var acc = 0.0;
  for (var k = lid; k < P.K; k += 64u) { acc += X[xo + k] * w_at(n, k, P.K, P.soff); }
  part[lid] = acc;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (lid < s) { part[lid] += part[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) { O[P.ooff + t * P.N + n] = part[0]; }
}

const TILE = 16u;
var<workgroup> xs: array<array<f32, 16>, 16>; // [token][k]
var<workgroup> ws: array<array<f32, 17>, 16>; // [row][k], padded against bank conflicts

@compute @workgroup_size(16, 16)
fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let n0 = wid.x * TILE;
  let t0 = wid.y * TILE;
  let n = n0 + lid.x;
  let t = t0 + lid.y;
  var acc = 0.0;
  for (var k0 = 0u; k0 < P.K; k0 += TILE) {
    let k = k0 + lid.x;
    // thread (x, y) loads x[t0 + y, k0 + x] and W[n0 + y, k0 + x]
    xs[lid.y][lid.x] = select(0.0, X[P.xoff + (t0 + lid.y) * P.K + k], t0 + lid.y < P.T && k < P.K);
    ws[lid.y][lid.x] = select(0.0, w_at(n0 + lid.y, k, P.K, P.soff), n0 + lid.y < P.N && k < P.K);
    workgroupBarrier();
    for (var kk = 0u; kk < TILE; kk++) { acc += xs[lid.y][kk] * ws[lid.x][kk]; }
    workgroupBarrier();
  }
  if (t < P.T && n < P.N) { O[P.ooff + t * P.N + n] = acc; }
}
