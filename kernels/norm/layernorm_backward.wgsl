// LayerNorm backward, input gradient, from the statistics saved by the forward (the mean as the offset
// m = mean - x[row, 0], and rstd): xhat = ((x - x[row, 0]) - m) * rstd, g = dy * w,
// dx = rstd * (g - mean(g) - xhat * mean(g * xhat)).
// One workgroup per row; both row sums are combined after one barrier.

struct Params {
  rows: u32,
  cols: u32,
}

override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<WT>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read> center: array<f32>;
@group(0) @binding(5) var<storage, read> rstd: array<f32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;

var<workgroup> part: array<vec2f, WG>;

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
  let x0 = x[base];
  let m0 = center[row];
  let r = rstd[row];
  var s = vec2f(0.0);
  for (var j = lid; j < p.cols; j += WG) {
    let g = dy[base + j] * f32(w[j]);
    s += vec2f(g, g * ((x[base + j] - x0) - m0) * r);
  }
  part[lid] = s;
  workgroupBarrier();
  var total = vec2f(0.0);
  for (var i = 0u; i < WG; i++) {
    total += part[i];
  }
  let m = total / f32(p.cols);
  for (var j = lid; j < p.cols; j += WG) {
    let g = dy[base + j] * f32(w[j]);
    let xhat = ((x[base + j] - x0) - m0) * r;
    dx[base + j] = r * (g - m.x - xhat * m.y);
  }
}
