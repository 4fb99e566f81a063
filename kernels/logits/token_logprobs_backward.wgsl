// Backward of logsumexp_rows.wgsl's out = sign * log_softmax(x * inv_t)[target]:
// dx[j] = sign * dy * inv_t * (onehot(target)[j] - softmax(x * inv_t)[j]), zero rows where
// target == ignore. The softmax comes from the saved stats (m, log s), m the row's largest x. One workgroup per row; x and
// dx are bound from row `row_base` at elements x_off and dx_off.

struct Params {
  rows: u32,
  cols: u32,
  row_base: u32,
  x_off: u32,
  dx_off: u32,
  inv_t: f32,
  sign: f32,
  ignore: i32,
}

override WG: u32 = 128u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<i32>;
@group(0) @binding(3) var<storage, read> stats: array<f32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let r = wid.x + wid.y * nwg.x;
  if (r >= p.rows) {
    return;
  }
  let row = p.row_base + r;
  let t = targets[row];
  let coef = select(p.sign * dy[row] * p.inv_t, 0.0, t == p.ignore);
  let mx = stats[2u * row];
  let ls = stats[2u * row + 1u];
  let xb = p.x_off + r * p.cols;
  let db = p.dx_off + r * p.cols;
  for (var j = lid; j < p.cols; j += WG) {
    let prob = exp((x[xb + j] - mx) * p.inv_t - ls);
    let hot = select(0.0, 1.0, i32(j) == t);
    dx[db + j] = coef * (hot - prob);
  }
}
