// LayerNorm forward over the last dimension of a [rows, cols] matrix:
// y = (x - mean) * rstd * w + b, rstd = 1 / sqrt(var + eps), biased variance. Every row is centred on
// its first element, x0 = x[row, 0]: the deviations x - x0 are exact for rows with a large common
// offset (values ~1e4 varying in the last bits) and zero for a constant row, and the mean is kept as
// the offset m = mean - x0 so that it is not rounded to the resolution of x. The backward gets m and
// rstd per row. One workgroup per row; the mean, then the variance of (x - x0) - m in a second pass.
// Each reduction combines its partial sums after one barrier: every invocation adds them all up
// itself, in the same order.

struct Params {
  rows: u32,
  cols: u32,
  eps: f32,
}

override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<WT>;
@group(0) @binding(3) var<storage, read> b: array<WT>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read_write> center: array<f32>;
@group(0) @binding(6) var<storage, read_write> rstd: array<f32>;

var<workgroup> part_mean: array<f32, WG>;
var<workgroup> part_var: array<f32, WG>;

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
  let n = f32(p.cols);
  let x0 = x[base];
  var s = 0.0;
  for (var j = lid; j < p.cols; j += WG) {
    s += x[base + j] - x0;
  }
  part_mean[lid] = s;
  workgroupBarrier();
  var total = 0.0;
  for (var i = 0u; i < WG; i++) {
    total += part_mean[i];
  }
  let m = total / n;
  var q = 0.0;
  for (var j = lid; j < p.cols; j += WG) {
    let d = (x[base + j] - x0) - m;
    q += d * d;
  }
  part_var[lid] = q;
  workgroupBarrier();
  var sq = 0.0;
  for (var i = 0u; i < WG; i++) {
    sq += part_var[i];
  }
  let r = 1.0 / sqrt(sq / n + p.eps);
  for (var j = lid; j < p.cols; j += WG) {
    y[base + j] = ((x[base + j] - x0) - m) * r * f32(w[j]) + f32(b[j]);
  }
  if (lid == 0u) {
    center[row] = m;
    rstd[row] = r;
  }
}
