// Backward of entropy_forward.wgsl: with q = softmax(z), z = x * inv_t and H its entropy,
// dH/dx[j] = -inv_t * q[j] * (log q[j] + H). One workgroup per row; x and dx are bound from row
// `row_base` at elements x_off and dx_off.

struct Params {
  rows: u32,
  cols: u32,
  row_base: u32,
  x_off: u32,
  dx_off: u32,
  inv_t: f32,
}

override WG: u32 = 128u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> stats: array<f32>;
@group(0) @binding(3) var<storage, read> ent: array<f32>;
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
  let coef = -dy[row] * p.inv_t;
  let mx = stats[2u * row];
  let ls = stats[2u * row + 1u];
  let h = ent[row];
  let xb = p.x_off + r * p.cols;
  let db = p.dx_off + r * p.cols;
  for (var j = lid; j < p.cols; j += WG) {
    let lq = (x[xb + j] - mx) * p.inv_t - ls;
    dx[db + j] = coef * exp(lq) * (lq + h);
  }
}
