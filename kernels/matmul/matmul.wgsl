// Batched matmul: C[b] = alpha * op(A[b]) . op(B[b]) (+ bias[n]) (+ C[b] when ACCUMULATE; times
// silu(C[b]) when GATED).
// op(X) is X or its transpose (TRANS_A / TRANS_B); A is f32, B is WT (f32, or f16 weights), all
// accumulation in f32. Each invocation computes a 4x4 tile of C; edge tiles clamp their loads and mask
// their stores, so any M, N, K works. Batch b = global_invocation_id.z. Leading dimensions (lda, ldb,
// ldc: the row strides of the stored matrices), element offsets and batch strides come from the
// params, so operands may be views into larger buffers; a batch stride of 0 broadcasts.

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
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<WT>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

fn loadA(base: u32, k: u32, step: u32) -> f32 {
  return a[base + k * step];
}

fn loadB(base: u32, k: u32, step: u32) -> f32 {
  return f32(b[base + k * step]);
}

// As swiglu_forward.wgsl computes it, so a gated result equals swiglu of the two products bit for bit.
fn sigmoid(v: f32) -> f32 {
  let e = exp(-abs(v));
  return select(e, 1.0, v >= 0.0) / (1.0 + e);
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let row0 = gid.y * 4u;
  let col0 = gid.x * 4u;
  if (row0 >= p.M || col0 >= p.N) {
    return;
  }
  // Element (m, k) of op(A) sits at m * sAm + k * sAk; (k, n) of op(B) at k * sBk + n * sBn.
  let sAm = select(p.lda, 1u, TRANS_A);
  let sAk = select(1u, p.lda, TRANS_A);
  let sBk = select(p.ldb, 1u, TRANS_B);
  let sBn = select(1u, p.ldb, TRANS_B);
  let baseA = p.offA + gid.z * p.strideA;
  let baseB = p.offB + gid.z * p.strideB;
  let r = min(vec4u(row0) + vec4u(0u, 1u, 2u, 3u), vec4u(p.M - 1u));
  let cl = min(vec4u(col0) + vec4u(0u, 1u, 2u, 3u), vec4u(p.N - 1u));
  let a0 = baseA + r.x * sAm;
  let a1 = baseA + r.y * sAm;
  let a2 = baseA + r.z * sAm;
  let a3 = baseA + r.w * sAm;
  let b0 = baseB + cl.x * sBn;
  let b1 = baseB + cl.y * sBn;
  let b2 = baseB + cl.z * sBn;
  let b3 = baseB + cl.w * sBn;

  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  var acc2 = vec4f(0.0);
  var acc3 = vec4f(0.0);
  let kMain = p.K & ~3u;
  for (var k = 0u; k < kMain; k += 4u) {
    for (var kk = 0u; kk < 4u; kk++) {
      let kx = k + kk;
      let bv = vec4f(loadB(b0, kx, sBk), loadB(b1, kx, sBk), loadB(b2, kx, sBk), loadB(b3, kx, sBk));
      acc0 += loadA(a0, kx, sAk) * bv;
      acc1 += loadA(a1, kx, sAk) * bv;
      acc2 += loadA(a2, kx, sAk) * bv;
      acc3 += loadA(a3, kx, sAk) * bv;
    }
  }
  for (var k = kMain; k < p.K; k++) {
    let bv = vec4f(loadB(b0, k, sBk), loadB(b1, k, sBk), loadB(b2, k, sBk), loadB(b3, k, sBk));
    acc0 += loadA(a0, k, sAk) * bv;
    acc1 += loadA(a1, k, sAk) * bv;
    acc2 += loadA(a2, k, sAk) * bv;
    acc3 += loadA(a3, k, sAk) * bv;
  }

  let baseC = p.offC + gid.z * p.strideC;
  var bv = vec4f(0.0);
  if (HAS_BIAS) {
    bv = vec4f(bias[p.offBias + cl.x], bias[p.offBias + cl.y], bias[p.offBias + cl.z], bias[p.offBias + cl.w]);
  }
  store(baseC, row0, col0, p.alpha * acc0 + bv);
  store(baseC, row0 + 1u, col0, p.alpha * acc1 + bv);
  store(baseC, row0 + 2u, col0, p.alpha * acc2 + bv);
  store(baseC, row0 + 3u, col0, p.alpha * acc3 + bv);
}

fn store(baseC: u32, row: u32, col0: u32, v: vec4f) {
  if (row >= p.M) {
    return;
  }
  let base = baseC + row * p.ldc + col0;
  for (var j = 0u; j < 4u; j++) {
    if (col0 + j < p.N) {
      var x = v[j];
      if (ACCUMULATE) {
        x += c[base + j];
      }
      if (GATED) {
        let g = c[base + j];
        x = g * sigmoid(g) * x;
      }
      c[base + j] = x;
    }
  }
}
