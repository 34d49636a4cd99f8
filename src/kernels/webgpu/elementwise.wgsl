// add: x[i] += y[i]. copy_rows: dst[r dstStride + c] = src[r srcStride + c] (keys/values into the
// cache). One thread an element.

struct Params { n: u32, width: u32, doff: u32, dstride: u32, soff: u32, sstride: u32 }
@group(0) @binding(0) var<storage, read> P: Params;
@group(0) @binding(1) var<storage, read> S: array<f32>;
@group(0) @binding(2) var<storage, read_write> D: array<f32>;

@compute @workgroup_size(256)
fn add(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
       @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i >= P.n) { return; }
  D[P.doff + i] += S[P.soff + i];
}

@compute @workgroup_size(256)
fn copy_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i >= P.n) { return; }
  let r = i / P.width;
  let c = i % P.width;
  D[P.doff + r * P.dstride + c] = S[P.soff + r * P.sstride + c];
}
