// Causal GQA attention with a safe softmax, in three dispatches and no barriers (see matmul.wgsl).
// Query t sees keys s ≤ pos0 + t; query head h uses kv head h / (nQ / nKV). SC is scratch: the scores
// (T, nQ, S), then each row's max and Σ from word SOFF.
// scores: one thread per (s, h, t): SC = q·k / sqrt(hd).
// stats: one thread per (h, t): the row's max, then Σ exp(score − max).
// attend: one thread per (i, h, t), i < hd: out_i = Σ_s (exp(score_s − max) / Σ) v_s,i.
// attention_wg (GPUs): all three in one dispatch, a workgroup of 64 threads a (head, token): thread i
//   scores keys s = i, i + 64, … into workgroup memory (S ≤ MAX_S), the max and Σ are reduced there,
//   then thread i sums output elements i, i + 64, … over the keys. One thread a row walking S alone
//   (stats) and three dispatches cost more than the arithmetic at decode.
// Same order of operations as kernels/ref/attention.ts.

struct Params { T: u32, pos0: u32, nQ: u32, nKV: u32, hd: u32, qStride: u32, qoff: u32, koff: u32,
  voff: u32, ooff: u32, S: u32, soff: u32, scale: f32 }
@group(0) @binding(0) var<storage, read> P: Params;
@group(0) @binding(1) var<storage, read> Q: array<f32>;
@group(0) @binding(2) var<storage, read> KV: array<f32>;     // keys (scores) or values (attend)
@group(0) @binding(3) var<storage, read_write> SC: array<f32>;
@group(0) @binding(4) var<storage, read_write> O: array<f32>;
@group(0) @binding(5) var<storage, read> VC: array<f32>;     // values (attention_wg; KV holds the keys)

@compute @workgroup_size(64)
fn scores(@builtin(global_invocation_id) gid: vec3<u32>) {
  let s = gid.x;
  let h = gid.y;
  let t = gid.z;
  if (s > P.pos0 + t || h >= P.nQ) { return; }
  let g = h / (P.nQ / P.nKV);
  let qo = P.qoff + t * P.qStride + h * P.hd;
  let ko = P.koff + s * P.nKV * P.hd + g * P.hd;
  var dot = 0.0;
  for (var i = 0u; i < P.hd; i++) { dot += Q[qo + i] * KV[ko + i]; }
  SC[(t * P.nQ + h) * P.S + s] = dot * P.scale;
}

@compute @workgroup_size(64)
fn stats(@builtin(global_invocation_id) gid: vec3<u32>) {
  let h = gid.x;
  let t = gid.y;
  if (h >= P.nQ) { return; }
  let nk = P.pos0 + t + 1u;
  let so = (t * P.nQ + h) * P.S;
  var m = SC[so];
  for (var s = 1u; s < nk; s++) { m = max(m, SC[so + s]); }
  var sum = 0.0;
  for (var s = 0u; s < nk; s++) { sum += exp(SC[so + s] - m); }
  SC[P.soff + 2u * (t * P.nQ + h)] = m;
  SC[P.soff + 2u * (t * P.nQ + h) + 1u] = sum;
}

@compute @workgroup_size(64)
fn attend(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  let h = gid.y;
  let t = gid.z;
  if (i >= P.hd || h >= P.nQ) { return; }
  let g = h / (P.nQ / P.nKV);
  let nk = P.pos0 + t + 1u;
  let so = (t * P.nQ + h) * P.S;
  let m = SC[P.soff + 2u * (t * P.nQ + h)];
  let sum = SC[P.soff + 2u * (t * P.nQ + h) + 1u];
  let vo = P.voff + g * P.hd + i;
  let vStride = P.nKV * P.hd;
  var acc = 0.0;
  for (var s = 0u; s < nk; s++) { acc += (exp(SC[so + s] - m) / sum) * KV[vo + s * vStride]; }
  O[P.ooff + t * P.nQ * P.hd + h * P.hd + i] = acc;
}

const MAX_S = 2048u; // attention.ts checks
var<workgroup> ps: array<f32, 2048>;
var<workgroup> red: array<f32, 64>;

fn reduce_wg(lid: u32, v: f32, isMax: bool) -> f32 {
  workgroupBarrier(); // the previous reduction's red[0] has been read
  red[lid] = v;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] = select(red[lid] + red[lid + s], max(red[lid], red[lid + s]), isMax); }
    workgroupBarrier();
  }
  return red[0];
}

@compute @workgroup_size(64)
fn attention_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wid.x;
  let t = wid.y;
  let g = h / (P.nQ / P.nKV);
  let nk = P.pos0 + t + 1u;
  let qo = P.qoff + t * P.qStride + h * P.hd;
  let kvStride = P.nKV * P.hd;
  var m = -3.402823e38;
  for (var s = lid; s < nk; s += 64u) {
    let ko = P.koff + s * kvStride + g * P.hd;
    var dot = 0.0;
    for (var i = 0u; i < P.hd; i++) { dot += Q[qo + i] * KV[ko + i]; }
    let sc = dot * P.scale;
    ps[s] = sc;
    m = max(m, sc);
  }
  let mx = reduce_wg(lid, m, true);
  var sum = 0.0;
  for (var s = lid; s < nk; s += 64u) { let e = exp(ps[s] - mx); ps[s] = e; sum += e; }
  let total = reduce_wg(lid, sum, false); // its barriers also publish every ps[s]
  for (var i = lid; i < P.hd; i += 64u) {
    let vo = P.voff + g * P.hd + i;
    var acc = 0.0;
    for (var s = 0u; s < nk; s++) { acc += (ps[s] / total) * VC[vo + s * kvStride]; }
    O[P.ooff + t * P.nQ * P.hd + h * P.hd + i] = acc;
  }
}
