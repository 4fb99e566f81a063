// Elementwise sum: out[i] = a[i] + b[i % bSize]. bSize < n repeats b along the leading dimensions
// (a bias or a per-column scale applied to every row).

struct Params {
  n: u32,
  bSize: u32,
}

override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i < p.n) {
    out[i] = a[i] + b[i % p.bSize];
  }
}
