// SwiGLU backward: dgate = dy * up * silu'(gate), dup = dy * silu(gate). NEED_GATE / NEED_UP select the
// gradients written; the op binds a placeholder for an output (and for `up`) that is not needed.

struct Params {
  n: u32,
}

override WG: u32 = 256u;
override NEED_GATE: bool = true;
override NEED_UP: bool = true;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> gate: array<f32>;
@group(0) @binding(2) var<storage, read> up: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read_write> dgate: array<f32>;
@group(0) @binding(5) var<storage, read_write> dup: array<f32>;

fn sigmoid(v: f32) -> f32 {
  let e = exp(-abs(v));
  return select(e, 1.0, v >= 0.0) / (1.0 + e);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i < p.n) {
    let g = gate[i];
    let s = sigmoid(g);
    let d = dy[i];
    if (NEED_GATE) {
      dgate[i] = d * up[i] * s * (1.0 + g * (1.0 - s));
    }
    if (NEED_UP) {
      dup[i] = d * g * s;
    }
  }
}
