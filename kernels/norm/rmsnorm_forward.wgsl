// RMSNorm forward over the last dimension of a [rows, cols] matrix:
// y = x * rstd * w with rstd = 1 / sqrt(mean(x^2) + eps); rstd is saved per row for the backward.
// One workgroup per row: each invocation sums the squares of a strided slice, and after one barrier
// every invocation adds up all the partial sums itself (same order, so they agree), which costs one
// barrier instead of a tree of them.

struct Params {
  rows: u32,
  cols: u32,
  eps: f32,
}

override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<WT>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> rstd: array<f32>;

var<workgroup> part: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) {
    return;
  }
  let base = row * p.cols;
  var s = 0.0;
  for (var j = lid; j < p.cols; j += WG) {
    let v = x[base + j];
    s += v * v;
  }
  part[lid] = s;
  workgroupBarrier();
  var total = 0.0;
  for (var i = 0u; i < WG; i++) {
    total += part[i];
  }
  let r = 1.0 / sqrt(total / f32(p.cols) + p.eps);
  for (var j = lid; j < p.cols; j += WG) {
    y[base + j] = x[base + j] * r * f32(w[j]);
  }
  if (lid == 0u) {
    rstd[row] = r;
  }
}
