// Entropy of softmax(z), z = x * inv_t, along rows, in one pass: each invocation keeps a running
// maximum m of x, s = sum exp(d) and w = sum exp(d) * d with d = (x - m) * inv_t over a strided slice of
// its row (x - m before the scaling, as in logsumexp_rows.wgsl); a tree in workgroup memory merges
// them. H = log s - w / s. Writes out[row] = H and
// stats[row] = (m, log s) for the backward. x is bound from row `row_base` at element x_off.
// Logits must be finite.

struct Params {
  rows: u32,
  cols: u32,
  row_base: u32,
  x_off: u32,
  inv_t: f32,
}

override WG: u32 = 128u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read_write> stats: array<f32>;

var<workgroup> pm: array<f32, WG>;
var<workgroup> ps: array<f32, WG>;
var<workgroup> pw: array<f32, WG>;

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
  var m = x[base + min(lid, p.cols - 1u)];
  var s = 0.0;
  var w = 0.0;
  for (var j = lid; j < p.cols; j += WG) {
    let xj = x[base + j];
    if (xj > m) {
      // Rebase on the new maximum: each term's shift grows by d, its weight scales by c.
      let d = (m - xj) * p.inv_t;
      let c = exp(d);
      w = c * (w + s * d);
      s = s * c + 1.0;
      m = xj;
    } else {
      let d = (xj - m) * p.inv_t;
      let e = exp(d);
      s += e;
      w += e * d;
    }
  }
  pm[lid] = m;
  ps[lid] = s;
  pw[lid] = w;
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h >>= 1u) {
    if (lid < h) {
      let ma = pm[lid];
      let mb = pm[lid + h];
      let mm = max(ma, mb);
      let da = (ma - mm) * p.inv_t;
      let dbb = (mb - mm) * p.inv_t;
      let ca = exp(da);
      let cb = exp(dbb);
      let sa = ps[lid];
      let sb = ps[lid + h];
      pw[lid] = ca * (pw[lid] + sa * da) + cb * (pw[lid + h] + sb * dbb);
      ps[lid] = sa * ca + sb * cb;
      pm[lid] = mm;
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let row = p.row_base + r;
    let ls = log(ps[0]);
    stats[2u * row] = pm[0];
    stats[2u * row + 1u] = ls;
    out[row] = ls - pw[0] / ps[0];
  }
}
