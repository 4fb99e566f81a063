// Row reduction of a [rows, cols] matrix to [rows]: OP 0 sums, 1 takes the maximum, 2 sums squares;
// the result is multiplied by `scale` (1/cols gives a mean). One workgroup per row: each invocation
// folds a strided slice of the row, then a tree reduction in workgroup memory combines them.

struct Params {
  rows: u32,
  cols: u32,
  scale: f32,
}

override OP: u32 = 0u;
override WG: u32 = 128u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

var<workgroup> part: array<f32, WG>;

fn combine(u: f32, v: f32) -> f32 {
  if (OP == 1u) {
    return max(u, v);
  }
  return u + v;
}

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
  // Max starts from an element of the row itself (repeating one is harmless), so rows of -inf or NaN
  // reduce as they should; sums start from zero.
  var acc = 0.0;
  if (OP == 1u) {
    acc = x[base + min(lid, p.cols - 1u)];
  }
  for (var j = lid; j < p.cols; j += WG) {
    let v = x[base + j];
    acc = combine(acc, select(v, v * v, OP == 2u));
  }
  part[lid] = acc;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      part[lid] = combine(part[lid], part[lid + s]);
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    out[row] = part[0] * p.scale;
  }
}
