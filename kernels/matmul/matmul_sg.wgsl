// Batched matmul for adapters that run invocations as SIMD lanes on a CPU (lavapipe, SwiftShader),
// where every per-invocation load is costly: the same contract and params as matmul.wgsl, any shapes,
// strides and offsets. A workgroup is 8 invocations in one subgroup; each computes an (8 * RB) x 4 tile
// of C. Rows of A are shared: each lane loads one row of every 8-row block and subgroupBroadcast hands it
// to the others, so A costs RB loads per lane per step of 4 along k instead of 8 * RB.
// Needs the subgroups feature with a subgroup size of at least 8.
enable subgroups;

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
// Row blocks of 8 per invocation: 1 to 4.
override RB: u32 = 4u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<WT>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

const MAX_RB = 4u;

// op(B)[k, cols] for one k, as a vec4 over the four columns.
fn loadB(bCol: vec4u, k: u32, sBk: u32) -> vec4f {
  let o = k * sBk;
  return vec4f(f32(b[bCol.x + o]), f32(b[bCol.y + o]), f32(b[bCol.z + o]), f32(b[bCol.w + o]));
}

// acc[i] += op(A)[row i of the block, k..k+3] . op(B)[k..k+3, cols], the row taken from lane i.
fn accumulateBlock(acc: ptr<function, array<vec4f, 32>>, j: u32, mine: vec4f, b0: vec4f, b1: vec4f, b2: vec4f, b3: vec4f) {
  let base = j * 8u;
  var r = subgroupBroadcast(mine, 0u);
  (*acc)[base + 0u] += r.x * b0 + r.y * b1 + r.z * b2 + r.w * b3;
  r = subgroupBroadcast(mine, 1u);
  (*acc)[base + 1u] += r.x * b0 + r.y * b1 + r.z * b2 + r.w * b3;
  r = subgroupBroadcast(mine, 2u);
  (*acc)[base + 2u] += r.x * b0 + r.y * b1 + r.z * b2 + r.w * b3;
  r = subgroupBroadcast(mine, 3u);
  (*acc)[base + 3u] += r.x * b0 + r.y * b1 + r.z * b2 + r.w * b3;
  r = subgroupBroadcast(mine, 4u);
  (*acc)[base + 4u] += r.x * b0 + r.y * b1 + r.z * b2 + r.w * b3;
  r = subgroupBroadcast(mine, 5u);
  (*acc)[base + 5u] += r.x * b0 + r.y * b1 + r.z * b2 + r.w * b3;
  r = subgroupBroadcast(mine, 6u);
  (*acc)[base + 6u] += r.x * b0 + r.y * b1 + r.z * b2 + r.w * b3;
  r = subgroupBroadcast(mine, 7u);
  (*acc)[base + 7u] += r.x * b0 + r.y * b1 + r.z * b2 + r.w * b3;
}

// As swiglu_forward.wgsl computes it, so a gated result equals swiglu of the two products bit for bit.
fn sigmoid(v: f32) -> f32 {
  let e = exp(-abs(v));
  return select(e, 1.0, v >= 0.0) / (1.0 + e);
}

@compute @workgroup_size(8, 1, 1)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(subgroup_invocation_id) lane: u32,
) {
  let row0 = wid.y * 8u * RB;
  let col0 = (wid.x * 8u + lid.x) * 4u;
  let sAm = select(p.lda, 1u, TRANS_A);
  let sAk = select(1u, p.lda, TRANS_A);
  let sBk = select(p.ldb, 1u, TRANS_B);
  let sBn = select(1u, p.ldb, TRANS_B);
  let baseA = p.offA + wid.z * p.strideA;
  let baseB = p.offB + wid.z * p.strideB;
  // Out-of-range rows and columns are clamped for loading and masked when storing; no invocation
  // leaves early, since every lane takes part in the broadcasts.
  let cols = min(vec4u(col0) + vec4u(0u, 1u, 2u, 3u), vec4u(p.N - 1u));
  let bCol = vec4u(baseB) + cols * sBn;
  var aRow: array<u32, MAX_RB>;
  for (var j = 0u; j < RB; j++) {
    aRow[j] = baseA + min(row0 + j * 8u + lane, p.M - 1u) * sAm;
  }

  var acc: array<vec4f, 32>;
  for (var k = 0u; k < p.K; k += 4u) {
    let ks = vec4u(k) + vec4u(0u, 1u, 2u, 3u);
    let kk = min(ks, vec4u(p.K - 1u));
    // Past the end of K the A values are zeroed, so clamped B loads add nothing.
    let live = select(vec4f(0.0), vec4f(1.0), ks < vec4u(p.K));
    let b0 = loadB(bCol, kk.x, sBk);
    let b1 = loadB(bCol, kk.y, sBk);
    let b2 = loadB(bCol, kk.z, sBk);
    let b3 = loadB(bCol, kk.w, sBk);
    for (var j = 0u; j < RB; j++) {
      let r = aRow[j];
      let mine = live * vec4f(a[r + kk.x * sAk], a[r + kk.y * sAk], a[r + kk.z * sAk], a[r + kk.w * sAk]);
      accumulateBlock(&acc, j, mine, b0, b1, b2, b3);
    }
  }

  var bv = vec4f(0.0);
  if (HAS_BIAS) {
    bv = vec4f(bias[p.offBias + cols.x], bias[p.offBias + cols.y], bias[p.offBias + cols.z], bias[p.offBias + cols.w]);
  }
  let baseC = p.offC + wid.z * p.strideC;
  for (var i = 0u; i < 8u * RB; i++) {
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
