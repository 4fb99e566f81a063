// RMSNorm backward, input gradient, for y = x * r * w with r = rstd saved by the forward:
// g = dy * w, dx = r * (g - x * r^2 * mean(g * x)). One workgroup per row; the row sum of g * x is
// combined after one barrier as in the forward.

struct Params {
  rows: u32,
  cols: u32,
}

override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<WT>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read> rstd: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;

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
    s += dy[base + j] * f32(w[j]) * x[base + j];
  }
  part[lid] = s;
  workgroupBarrier();
  var total = 0.0;
  for (var i = 0u; i < WG; i++) {
    total += part[i];
  }
  let r = rstd[row];
  let c = r * r * total / f32(p.cols);
  for (var j = lid; j < p.cols; j += WG) {
    let g = dy[base + j] * f32(w[j]);
    dx[base + j] = r * (g - x[base + j] * c);
  }
}
