// Softmax backward over the last dimension: dx = y * (dy - sum(dy * y)) per row of a [rows, cols]
// matrix. One workgroup per row; the row's dot product is a tree reduction in workgroup memory.

struct Params {
  rows: u32,
  cols: u32,
}

override WG: u32 = 128u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

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
  var acc = 0.0;
  for (var j = lid; j < p.cols; j += WG) {
    acc += dy[base + j] * y[base + j];
  }
  part[lid] = acc;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (lid < k) {
      part[lid] += part[lid + k];
    }
    workgroupBarrier();
  }
  let dot = part[0];
  for (var j = lid; j < p.cols; j += WG) {
    dx[base + j] = y[base + j] * (dy[base + j] - dot);
  }
}
