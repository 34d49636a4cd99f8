// Causal GQA attention with a safe softmax: one workgroup per (query head h, token t); query t sees keys
// s ≤ pos0 + t, query head h uses kv head h / (nQ / nKV). Three passes over a scores row in the scratch
// buffer SC (T, nQ, S): scores q·k / sqrt(hd) and their max, exp(score − max) and their sum, then
// out = Σ p v with threads over the head's hd outputs. Same order of operations as kernels/ref/attention.ts.

struct Params { T: u32, pos0: u32, nQ: u32, nKV: u32, hd: u32, qStride: u32, qoff: u32, koff: u32,
  voff: u32, ooff: u32, S: u32, scale: f32 }
@group(0) @binding(0) var<storage, read> P: Params;
@group(0) @binding(1) var<storage, read> Q: array<f32>;
@group(0) @binding(2) var<storage, read> Kc: array<f32>;
@group(0) @binding(3) var<storage, read> Vc: array<f32>;
@group(0) @binding(4) var<storage, read_write> O: array<f32>;
@group(0) @binding(5) var<storage, read_write> SC: array<f32>;

var<workgroup> part: array<f32, 64>;

@compute @workgroup_size(64)
fn attention(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wid.x;
  let t = wid.y;
  let hd = P.hd;
  let g = h / (P.nQ / P.nKV);
  let kvStride = P.nKV * hd;
  let nk = P.pos0 + t + 1u;                    // keys visible to this query
  let qo = P.qoff + t * P.qStride + h * hd;
  let so = (t * P.nQ + h) * P.S;
  var m = -3.4028234e38;                        // ~lowest f32 (an infinite constant is a shader error)
  for (var s = lid; s < nk; s += 64u) {
    let ko = P.koff + s * kvStride + g * hd;
    var dot = 0.0;
    for (var i = 0u; i < hd; i++) { dot += Q[qo + i] * Kc[ko + i]; }
    let sc = dot * P.scale;
    SC[so + s] = sc;
    m = max(m, sc);
  }
  part[lid] = m;
  workgroupBarrier();
  for (var r = 32u; r > 0u; r >>= 1u) {
    if (lid < r) { part[lid] = max(part[lid], part[lid + r]); }
    workgroupBarrier();
  }
  let mx = part[0];
  workgroupBarrier();
  var l = 0.0;
  for (var s = lid; s < nk; s += 64u) { let e = exp(SC[so + s] - mx); SC[so + s] = e; l += e; }
  part[lid] = l;
  workgroupBarrier();
  for (var r = 32u; r > 0u; r >>= 1u) {
    if (lid < r) { part[lid] += part[lid + r]; }
    workgroupBarrier();
  }
  let sum = part[0];
  storageBarrier(); // the exp values other threads wrote
  let oo = P.ooff + t * P.nQ * hd + h * hd;
  for (var i = lid; i < hd; i += 64u) {
    var acc = 0.0;
    for (var s = 0u; s < nk; s++) { acc += (SC[so + s] / sum) * Vc[P.voff + s * kvStride + g * hd + i]; }
    O[oo + i] = acc;
  }
}
