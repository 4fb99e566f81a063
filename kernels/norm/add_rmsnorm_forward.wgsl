// Residual add and RMSNorm in one pass, for inference: s = x + r, y = s * rstd * w with
// rstd = 1 / sqrt(mean(s^2) + eps), over the last dimension of [rows, cols]. Writes s (the new residual
// stream) and y; keeps no rstd, since nothing runs backward through it. One workgroup per row, the
// partial sums combined as in rmsnorm_forward.wgsl.

struct Params {
  rows: u32,
  cols: u32,
  eps: f32,
}

override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> r: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<WT>;
@group(0) @binding(4) var<storage, read_write> s: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;

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
  var sq = 0.0;
  for (var j = lid; j < p.cols; j += WG) {
    let v = x[base + j] + r[base + j];
    s[base + j] = v;
    sq += v * v;
  }
  part[lid] = sq;
  workgroupBarrier();
  var total = 0.0;
  for (var i = 0u; i < WG; i++) {
    total += part[i];
  }
  let rstd = 1.0 / sqrt(total / f32(p.cols) + p.eps);
  for (var j = lid; j < p.cols; j += WG) {
    y[base + j] = s[base + j] * rstd * f32(w[j]);
  }
}
