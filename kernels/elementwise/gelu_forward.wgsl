// GELU forward. KIND 0: exact, x * Phi(x) with Phi from erf; KIND 1: the tanh approximation
// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), computed as x * sigmoid(2u) so large |x| cannot
// overflow; KIND 2: QuickGELU, x * sigmoid(1.702 x).

struct Params {
  n: u32,
}

override WG: u32 = 256u;
override KIND: u32 = 0u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

fn sigmoid(v: f32) -> f32 {
  let e = exp(-abs(v));
  return select(e, 1.0, v >= 0.0) / (1.0 + e);
}

// erfc(z) for z >= 0 with relative error below 1.2e-7 (Numerical Recipes erfcc, a Chebyshev fit), so
// the tail keeps its relative accuracy where 1 - erf(z) would cancel.
fn erfcPos(z: f32) -> f32 {
  let t = 1.0 / (1.0 + 0.5 * z);
  let poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
    t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  return t * exp(poly - z * z);
}

// erf(z) for |z| < 0.5 from its Maclaurin series (truncation error below 1e-9), exact near zero.
fn erfSmall(z: f32) -> f32 {
  let q = z * z;
  let s = 1.0 - q * (1.0 / 3.0 - q * (0.1 - q * (1.0 / 42.0 - q * (1.0 / 216.0 - q * (1.0 / 1320.0 -
    q * (1.0 / 9360.0))))));
  return 1.1283791670955126 * z * s;
}

// The standard normal CDF Phi(x) = (1 + erf(x / sqrt 2)) / 2.
fn normalCdf(x: f32) -> f32 {
  let z = x * 0.7071067811865476;
  if (abs(z) < 0.5) {
    return 0.5 + 0.5 * erfSmall(z);
  }
  if (z > 0.0) {
    return 1.0 - 0.5 * erfcPos(z);
  }
  return 0.5 * erfcPos(-z);
}

const TANH_C: f32 = 0.7978845608028654; // sqrt(2 / pi)
const TANH_K: f32 = 0.044715;
const QUICK_K: f32 = 1.702;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i < p.n) {
    let v = x[i];
    var cdf: f32;
    if (KIND == 0u) {
      cdf = normalCdf(v);
    } else if (KIND == 1u) {
      cdf = sigmoid(2.0 * TANH_C * (v + TANH_K * v * v * v));
    } else {
      cdf = sigmoid(QUICK_K * v);
    }
    y[i] = v * cdf;
  }
}
