// LayerNorm backward, weight and bias gradients: dw[c] = sum_r dy[r, c] * xhat[r, c] and
// db[c] = sum_r dy[r, c], with xhat = ((x - x[r, 0]) - m[r]) * rstd[r] from the forward's statistics (the
// mean kept as the offset m = mean - x[r, 0]). HAS_DW / HAS_DB switch each off for a frozen parameter
// (its binding then gets a placeholder). One invocation per column walks down the rows.

struct Params {
  rows: u32,
  cols: u32,
}

override WG: u32 = 64u;
override HAS_DW: bool = true;
override HAS_DB: bool = true;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read> center: array<f32>;
@group(0) @binding(4) var<storage, read> rstd: array<f32>;
@group(0) @binding(5) var<storage, read_write> dw: array<f32>;
@group(0) @binding(6) var<storage, read_write> db: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let c = gid.x;
  if (c >= p.cols) {
    return;
  }
  var acc_w = 0.0;
  var acc_b = 0.0;
  for (var r = 0u; r < p.rows; r++) {
    let i = r * p.cols + c;
    let g = dy[i];
    if (HAS_DW) {
      acc_w += g * ((x[i] - x[r * p.cols]) - center[r]) * rstd[r];
    }
    acc_b += g;
  }
  if (HAS_DW) {
    dw[c] = acc_w;
  }
  if (HAS_DB) {
    db[c] = acc_b;
  }
}
