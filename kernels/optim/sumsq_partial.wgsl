// Partial sums of squares of a flat f32 array: workgroup w folds elements [w * WG * ITEMS, (w + 1) *
// WG * ITEMS) and writes the sum of their squares to out[base + w]. Gradient-norm clipping runs it on
// every gradient (and every binding-sized piece of one) into one buffer of partials.

struct Params {
  n: u32,
  base: u32,
}

override WG: u32 = 256u;
override ITEMS: u32 = 8u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

var<workgroup> part: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let w = wid.x + wid.y * nwg.x;
  let start = w * WG * ITEMS;
  var acc = 0.0;
  for (var k = 0u; k < ITEMS; k++) {
    let i = start + k * WG + lid;
    if (i < p.n) {
      let xi = x[i];
      acc += xi * xi;
    }
  }
  part[lid] = acc;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      part[lid] += part[lid + s];
    }
    workgroupBarrier();
  }
  if (lid == 0u && start < p.n) {
    out[p.base + w] = part[0];
  }
}
