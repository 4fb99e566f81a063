// Batched matmul, fast path for aligned operands: the same contract and params as matmul.wgsl, with
// operands read as vec4. Requires K % 4 == 0 and lda, ldb, offA, offB and batch strides of A and B
// multiples of 4; N % 4 == 0 when B is [K, N]; M % 4 == 0 when A is stored transposed. Each invocation
// computes a TM x 4 tile of C (TM = 4 or 8 rows); edge rows are clamped on load and masked on store.

struct Params {
  M: u32,
  N: u32,
  K: u32,
  alpha: f32,
  lda: u32,
  ldb: u32,
  ldc: u32,
  offBias: u32,
  offA: u32,
  offB: u32,
  offC: u32,
  strideA: u32,
  strideB: u32,
  strideC: u32,
}

override TRANS_A: bool = false;
override TRANS_B: bool = false;
override HAS_BIAS: bool = false;
override ACCUMULATE: bool = false;
// C = silu(C) * result: C holds the gate half of a SwiGLU on entry (never with ACCUMULATE).
override GATED: bool = false;
override WG_X: u32 = 8u;
override WG_Y: u32 = 8u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4f>;
@group(0) @binding(2) var<storage, read> b: array<vec4<WT>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

const TM = 4u;

// Row i of the tile: op(A)[row, k..k+3] as a vec4.
fn loadA4(baseA: u32, rows: vec4u, k: u32) -> array<vec4f, 4> {
  var out: array<vec4f, 4>;
  if (TRANS_A) {
    // A is stored [K, M]: read op(A)[rows, k + j] for j = 0..3 as columns, then transpose.
    let r = baseA + rows.x;
    let c0 = a[(r + (k + 0u) * p.lda) / 4u];
    let c1 = a[(r + (k + 1u) * p.lda) / 4u];
    let c2 = a[(r + (k + 2u) * p.lda) / 4u];
    let c3 = a[(r + (k + 3u) * p.lda) / 4u];
    out[0] = vec4f(c0.x, c1.x, c2.x, c3.x);
    out[1] = vec4f(c0.y, c1.y, c2.y, c3.y);
    out[2] = vec4f(c0.z, c1.z, c2.z, c3.z);
    out[3] = vec4f(c0.w, c1.w, c2.w, c3.w);
  } else {
    out[0] = a[(baseA + rows.x * p.lda + k) / 4u];
    out[1] = a[(baseA + rows.y * p.lda + k) / 4u];
    out[2] = a[(baseA + rows.z * p.lda + k) / 4u];
    out[3] = a[(baseA + rows.w * p.lda + k) / 4u];
  }
  return out;
}

// As swiglu_forward.wgsl computes it, so a gated result equals swiglu of the two products bit for bit.
fn sigmoid(v: f32) -> f32 {
  let e = exp(-abs(v));
  return select(e, 1.0, v >= 0.0) / (1.0 + e);
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let row0 = gid.y * TM;
  let col0 = gid.x * 4u;
  if (row0 >= p.M || col0 >= p.N) {
    return;
  }
  let baseA = p.offA + gid.z * p.strideA;
  let baseB = p.offB + gid.z * p.strideB;
  // With transposed A the four rows are one aligned vec4 (M % 4 == 0); otherwise clamp each row.
  let rows = min(vec4u(row0) + vec4u(0u, 1u, 2u, 3u), vec4u(p.M - 1u));
  let cols = min(vec4u(col0) + vec4u(0u, 1u, 2u, 3u), vec4u(p.N - 1u));

  var acc: array<vec4f, 4>;
  for (var k = 0u; k < p.K; k += 4u) {
    let av = loadA4(baseA, rows, k);
    if (TRANS_B) {
      // B is stored [N, K]: one vec4 along k for each of the four columns.
      let b0 = vec4f(b[(baseB + cols.x * p.ldb + k) / 4u]);
      let b1 = vec4f(b[(baseB + cols.y * p.ldb + k) / 4u]);
      let b2 = vec4f(b[(baseB + cols.z * p.ldb + k) / 4u]);
      let b3 = vec4f(b[(baseB + cols.w * p.ldb + k) / 4u]);
      for (var i = 0u; i < TM; i++) {
        acc[i] += vec4f(dot(av[i], b0), dot(av[i], b1), dot(av[i], b2), dot(av[i], b3));
      }
    } else {
      // B is stored [K, N]: rows k..k+3, each a vec4 over the four columns.
      let b0 = vec4f(b[(baseB + (k + 0u) * p.ldb + col0) / 4u]);
      let b1 = vec4f(b[(baseB + (k + 1u) * p.ldb + col0) / 4u]);
      let b2 = vec4f(b[(baseB + (k + 2u) * p.ldb + col0) / 4u]);
      let b3 = vec4f(b[(baseB + (k + 3u) * p.ldb + col0) / 4u]);
      for (var i = 0u; i < TM; i++) {
        acc[i] += av[i].x * b0 + av[i].y * b1 + av[i].z * b2 + av[i].w * b3;
      }
    }
  }

  var bv = vec4f(0.0);
  if (HAS_BIAS) {
    bv = vec4f(bias[p.offBias + cols.x], bias[p.offBias + cols.y], bias[p.offBias + cols.z], bias[p.offBias + cols.w]);
  }
  let baseC = p.offC + gid.z * p.strideC;
  for (var i = 0u; i < TM; i++) {
    let row = row0 + i;
    if (row < p.M) {
      let v = p.alpha * acc[i] + bv;
      for (var j = 0u; j < 4u; j++) {
        if (col0 + j < p.N) {
          let idx = baseC + row * p.ldc + col0 + j;
          var x = v[j];
          if (ACCUMULATE) {
            x += c[idx];
          }
          if (GATED) {
            let g = c[idx];
            x = g * sigmoid(g) * x;
          }
          c[idx] = x;
        }
      }
    }
  }
}
