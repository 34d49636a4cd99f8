// out (T, D) = rows ids[t] of the (V, D) table in its stored dtype (weights.wgsl, prepended), widened to
// f32; one thread an element. The ids follow the parameters (checked against V on the CPU).

struct Params { T: u32, D: u32, soff: u32, ooff: u32, ids: array<u32> }
@group(0) @binding(0) var<storage, read> P: Params;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;

@compute @workgroup_size(256)
fn embed(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i >= P.T * P.D) { return; }
  let t = i / P.D;
  O[P.ooff + i] = w_at(P.ids[t], i % P.D, P.D, P.soff);
}
