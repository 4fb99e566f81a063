// Softmax over the last dimension of a [rows, cols] matrix. One workgroup per row: each invocation keeps
// an online (max, sum of exp(x - max)) over a strided slice of the row, a tree reduction in workgroup
// memory merges the pairs, then y = exp(x - max) / sum.

struct Params {
  rows: u32,
  cols: u32,
}

override WG: u32 = 128u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

var<workgroup> partMax: array<f32, WG>;
var<workgroup> partSum: array<f32, WG>;

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
  // Starting from an element of the row (not -inf, which WGSL cannot spell) keeps every max finite.
  var m = x[base + min(lid, p.cols - 1u)];
  var s = 0.0;
  for (var j = lid; j < p.cols; j += WG) {
    let v = x[base + j];
    if (v > m) {
      s = s * exp(m - v) + 1.0;
      m = v;
    } else {
      s += exp(v - m);
    }
  }
  partMax[lid] = m;
  partSum[lid] = s;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (lid < k) {
      let m2 = partMax[lid + k];
      let mm = max(m, m2);
      s = s * exp(m - mm) + partSum[lid + k] * exp(m2 - mm);
      m = mm;
      partMax[lid] = m;
      partSum[lid] = s;
    }
    workgroupBarrier();
  }
  let rowMax = partMax[0];
  let inv = 1.0 / partSum[0];
  for (var j = lid; j < p.cols; j += WG) {
    y[base + j] = exp(x[base + j] - rowMax) * inv;
  }
}
