// Combines the partial sums of squares of all gradients (one workgroup): norm[0] = sqrt(sum), and the
// clip coefficient coef[0] = min(1, max_norm / (norm + 1e-6)) as torch.nn.utils.clip_grad_norm_, or 1
// when clipping is off.

struct Params {
  count: u32,
  clip: u32,
  max_norm: f32,
}

override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> partials: array<f32>;
@group(0) @binding(2) var<storage, read_write> norm: array<f32>;
@group(0) @binding(3) var<storage, read_write> coef: array<f32>;

var<workgroup> part: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32) {
  var acc = 0.0;
  for (var i = lid; i < p.count; i += WG) {
    acc += partials[i];
  }
  part[lid] = acc;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      part[lid] += part[lid + s];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let total = sqrt(part[0]);
    norm[0] = total;
    var c = 1.0;
    if (p.clip != 0u) {
      c = min(1.0, p.max_norm / (total + 1e-6));
    }
    coef[0] = c;
  }
}
