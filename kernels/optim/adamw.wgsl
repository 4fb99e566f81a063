// AdamW step for f32 parameters, in place (torch.optim.AdamW semantics):
//   g = grad * gscale[0]          (gscale: the gradient-clipping coefficient, or 1)
//   param *= decay                (decay = 1 - lr * weight_decay: decoupled weight decay)
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g^2
//   param -= step_size * m / (sqrt(v) / bc2_sqrt + eps)
// 1 - beta1 and 1 - beta2 come from the host in f64 (1 - f32(0.999) is 1.3e-5 off), as do
// step_size = lr / (1 - beta1^t) and bc2_sqrt = sqrt(1 - beta2^t), computed on the host.

struct Params {
  n: u32,
  beta1: f32,
  beta2: f32,
  one_minus_beta1: f32,
  one_minus_beta2: f32,
  eps: f32,
  decay: f32,
  step_size: f32,
  bc2_sqrt: f32,
}

override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
@group(0) @binding(5) var<storage, read> gscale: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) {
    return;
  }
  let g = grad[i] * gscale[0];
  let mi = p.beta1 * m[i] + p.one_minus_beta1 * g;
  let vi = p.beta2 * v[i] + p.one_minus_beta2 * g * g;
  m[i] = mi;
  v[i] = vi;
  let denom = sqrt(vi) / p.bc2_sqrt + p.eps;
  param[i] = param[i] * p.decay - p.step_size * mi / denom;
}
