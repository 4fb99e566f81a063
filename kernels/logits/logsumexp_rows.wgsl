// Log-softmax of z = x * inv_t along rows, in one pass: each invocation keeps a running maximum m of x
// and sum s = sum exp((x - m) * inv_t) over a strided slice of its row, a tree in workgroup memory
// merges them. x - m is formed before the scaling so that equal logits give exactly 0 (a fused
// x * inv_t - m does not). Writes stats[row] = (m, log s) (for the backward) and out[row] = sign * log_softmax(z)[target]
// (token log-probs: sign 1; cross-entropy: sign -1, inv_t 1), or 0 where target == ignore.
// A dispatch covers `rows` rows starting at `row_base`; x is bound from that row, at element x_off.
// Logits must be finite.

struct Params {
  rows: u32,
  cols: u32,
  row_base: u32,
  x_off: u32,
  inv_t: f32,
  sign: f32,
  ignore: i32,
}

override WG: u32 = 128u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<i32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read_write> stats: array<f32>;

var<workgroup> pm: array<f32, WG>;
var<workgroup> ps: array<f32, WG>;

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
  let base = p.x_off + r * p.cols;
  // Invocations past the end of a short row start from a real element with an empty sum.
  var m = x[base + min(lid, p.cols - 1u)];
  var s = 0.0;
  for (var j = lid; j < p.cols; j += WG) {
    let xj = x[base + j];
    if (xj > m) {
      s = s * exp((m - xj) * p.inv_t) + 1.0;
      m = xj;
    } else {
      s += exp((xj - m) * p.inv_t);
    }
  }
  pm[lid] = m;
  ps[lid] = s;
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h >>= 1u) {
    if (lid < h) {
      let ma = pm[lid];
      let mb = pm[lid + h];
      let mm = max(ma, mb);
      ps[lid] = ps[lid] * exp((ma - mm) * p.inv_t) + ps[lid + h] * exp((mb - mm) * p.inv_t);
      pm[lid] = mm;
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let row = p.row_base + r;
    let mx = pm[0];
    let ls = log(ps[0]);
    stats[2u * row] = mx;
    stats[2u * row + 1u] = ls;
    let t = targets[row];
    var v = 0.0;
    if (t != p.ignore) {
      v = p.sign * ((x[base + u32(t)] - mx) * p.inv_t - ls);
    }
    out[row] = v;
  }
}
