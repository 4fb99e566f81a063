// Attention backward, first step: for each (query, head) row, stats = (lse, delta) with
// delta = rowsum(dO * O), the flash-attention-2 correction term; the dq and dk/dv kernels read both.

struct Params {
  rows: u32,
}

override D: u32 = 64u;
override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> o: array<f32>;
@group(0) @binding(2) var<storage, read> dout: array<f32>;
@group(0) @binding(3) var<storage, read> lse: array<f32>;
@group(0) @binding(4) var<storage, read_write> stats: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = gid.x + gid.y * nwg.x * WG;
  if (r >= p.rows) {
    return;
  }
  var s = 0.0;
  for (var d = 0u; d < D; d++) {
    s += o[r * D + d] * dout[r * D + d];
  }
  stats[2u * r] = lse[r];
  stats[2u * r + 1u] = s;
}
