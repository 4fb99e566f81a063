// RMSNorm backward, weight gradient: dw[c] = sum over rows of dy[r, c] * x[r, c] * rstd[r].
// One invocation per column walks down the rows; neighbouring invocations read neighbouring columns.

struct Params {
  rows: u32,
  cols: u32,
}

override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read> rstd: array<f32>;
@group(0) @binding(4) var<storage, read_write> dw: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let c = gid.x;
  if (c >= p.cols) {
    return;
  }
  var acc = 0.0;
  for (var r = 0u; r < p.rows; r++) {
    let i = r * p.cols + c;
    acc += dy[i] * x[i] * rstd[r];
  }
  dw[c] = acc;
}
