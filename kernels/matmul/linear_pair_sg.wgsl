// Two linears of one input in one dispatch, for CPU adapters (the layout of matmul_sg.wgsl):
// y1 = x . W1^T (+ b1) and y2 = x . W2^T (+ b2), x [M, K], W1 and W2 [N, K] (WT: f32, or f16 weights).
// PAIR writes both (k and v projections); otherwise (a SwiGLU's gate and up projections) c1 gets
// silu(y1) * y2, computed as swiglu_forward.wgsl does. A workgroup is 8 lanes in one subgroup for an
// (8 * RB) x 32 tile of both products; each row of x is loaded by one lane and broadcast, and serves both
// weights. Needs the subgroups feature with at least 8 lanes.
enable subgroups;

struct Params {
  M: u32,
  N: u32,
  K: u32,
}

override PAIR: bool = true;
override HAS_BIAS: bool = false;
// Row blocks of 8 per invocation: 1 to 2.
override RB: u32 = 2u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> w1: array<WT>;
@group(0) @binding(3) var<storage, read> w2: array<WT>;
@group(0) @binding(4) var<storage, read> bias1: array<f32>;
@group(0) @binding(5) var<storage, read> bias2: array<f32>;
@group(0) @binding(6) var<storage, read_write> c1: array<f32>;
@group(0) @binding(7) var<storage, read_write> c2: array<f32>;

const MAX_RB = 2u;

fn sigmoid(v: f32) -> f32 {
  let e = exp(-abs(v));
  return select(e, 1.0, v >= 0.0) / (1.0 + e);
}

// W[cols, k] for one k, as a vec4 over the four columns.
fn load1(rows: vec4u, k: u32) -> vec4f {
  return vec4f(f32(w1[rows.x + k]), f32(w1[rows.y + k]), f32(w1[rows.z + k]), f32(w1[rows.w + k]));
}

fn load2(rows: vec4u, k: u32) -> vec4f {
  return vec4f(f32(w2[rows.x + k]), f32(w2[rows.y + k]), f32(w2[rows.z + k]), f32(w2[rows.w + k]));
}

fn dotRow(r: vec4f, w: array<vec4f, 4>) -> vec4f {
  return r.x * w[0] + r.y * w[1] + r.z * w[2] + r.w * w[3];
}

// acc[i] += x[row i of the block, k..k+3] . W[cols, k..k+3] for both weights, the row taken from lane i
// of `mine`: the sums of matmul_sg.wgsl, in its order.
fn accumulateBlock(
  acc1: ptr<function, array<vec4f, 16>>,
  acc2: ptr<function, array<vec4f, 16>>,
  j: u32,
  mine: vec4f,
  w1k: array<vec4f, 4>,
  w2k: array<vec4f, 4>,
) {
  let base = j * 8u;
  var r = subgroupBroadcast(mine, 0u);
  (*acc1)[base + 0u] += dotRow(r, w1k);
  (*acc2)[base + 0u] += dotRow(r, w2k);
  r = subgroupBroadcast(mine, 1u);
  (*acc1)[base + 1u] += dotRow(r, w1k);
  (*acc2)[base + 1u] += dotRow(r, w2k);
  r = subgroupBroadcast(mine, 2u);
  (*acc1)[base + 2u] += dotRow(r, w1k);
  (*acc2)[base + 2u] += dotRow(r, w2k);
  r = subgroupBroadcast(mine, 3u);
  (*acc1)[base + 3u] += dotRow(r, w1k);
  (*acc2)[base + 3u] += dotRow(r, w2k);
  r = subgroupBroadcast(mine, 4u);
  (*acc1)[base + 4u] += dotRow(r, w1k);
  (*acc2)[base + 4u] += dotRow(r, w2k);
  r = subgroupBroadcast(mine, 5u);
  (*acc1)[base + 5u] += dotRow(r, w1k);
  (*acc2)[base + 5u] += dotRow(r, w2k);
  r = subgroupBroadcast(mine, 6u);
  (*acc1)[base + 6u] += dotRow(r, w1k);
  (*acc2)[base + 6u] += dotRow(r, w2k);
  r = subgroupBroadcast(mine, 7u);
  (*acc1)[base + 7u] += dotRow(r, w1k);
  (*acc2)[base + 7u] += dotRow(r, w2k);
}

@compute @workgroup_size(8, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  let row0 = wid.y * 8u * RB;
  let col0 = (wid.x * 8u + lane) * 4u;
  // Out-of-range rows and columns are clamped for loading and masked when storing; every lane takes
  // part in the broadcasts.
  let cols = min(vec4u(col0) + vec4u(0u, 1u, 2u, 3u), vec4u(p.N - 1u));
  let wRows = cols * p.K;
  var aRow: array<u32, MAX_RB>;
  for (var j = 0u; j < MAX_RB; j++) {
    aRow[j] = min(row0 + j * 8u + lane, p.M - 1u) * p.K;
  }

  var acc1: array<vec4f, 16>;
  var acc2: array<vec4f, 16>;
  for (var k = 0u; k < p.K; k += 4u) {
    let ks = vec4u(k) + vec4u(0u, 1u, 2u, 3u);
    let kk = min(ks, vec4u(p.K - 1u));
    // Past the end of K the x values are zeroed, so clamped weight loads add nothing.
    let live = select(vec4f(0.0), vec4f(1.0), ks < vec4u(p.K));
    let w1k = array<vec4f, 4>(load1(wRows, kk.x), load1(wRows, kk.y), load1(wRows, kk.z), load1(wRows, kk.w));
    let w2k = array<vec4f, 4>(load2(wRows, kk.x), load2(wRows, kk.y), load2(wRows, kk.z), load2(wRows, kk.w));
    for (var j = 0u; j < MAX_RB; j++) {
      if (j < RB) {
        let r = aRow[j];
        let mine = live * vec4f(a[r + kk.x], a[r + kk.y], a[r + kk.z], a[r + kk.w]);
        accumulateBlock(&acc1, &acc2, j, mine, w1k, w2k);
      }
    }
  }

  var bv1 = vec4f(0.0);
  var bv2 = vec4f(0.0);
  if (HAS_BIAS) {
    bv1 = vec4f(bias1[cols.x], bias1[cols.y], bias1[cols.z], bias1[cols.w]);
    bv2 = vec4f(bias2[cols.x], bias2[cols.y], bias2[cols.z], bias2[cols.w]);
  }
  for (var i = 0u; i < 16u; i++) {
    let row = row0 + i;
    if (i < 8u * RB && row < p.M) {
      let y1 = acc1[i] + bv1;
      let y2 = acc2[i] + bv2;
      for (var j = 0u; j < 4u; j++) {
        if (col0 + j < p.N) {
          let idx = row * p.N + col0 + j;
          if (PAIR) {
            c1[idx] = y1[j];
            c2[idx] = y2[j];
          } else {
            let g = y1[j];
            c1[idx] = g * sigmoid(g) * y2[j];
          }
        }
      }
    }
  }
}
