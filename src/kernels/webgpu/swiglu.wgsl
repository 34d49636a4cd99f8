// out (T, F) = silu(gate) * up, gu (T, 2F) = [gate | up] per row; one thread an element.

struct Params { T: u32, F: u32, goff: u32, ooff: u32 }
@group(0) @binding(0) var<storage, read> P: Params;
@group(0) @binding(1) var<storage, read> GU: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;

@compute @workgroup_size(256)
fn swiglu(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i >= P.T * P.F) { return; }
  let t = i / P.F;
  let j = i % P.F;
  let g = GU[P.goff + t * 2u * P.F + j];
  O[P.ooff + i] = (g / (1.0 + exp(-g))) * GU[P.goff + t * 2u * P.F + P.F + j];
}
