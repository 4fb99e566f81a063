// Attention backward, dq: recomputes each probability from q, k and the saved logsumexp and sums
// dq_i = scale * sum_j p_ij (dO_i . v_j - delta_i) k_j over the keys the row attends, in tiles (no
// [S, S] matrix). Layout as in attention_forward.wgsl: one workgroup per block of BQ queries and one
// query head, one invocation per query row, keys staged TK at a time in workgroup memory; same mask
// buffer. stats holds (lse, delta) per (query, head) row.

struct Params {
  seq: u32,
  hq: u32,
  hkv: u32,
  blockOffset: u32,
  scale: f32,
}

override D: u32 = 64u;
override BQ: u32 = 64u;
override TK: u32 = 32u;

const MAX_D: u32 = 128u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read> dout: array<f32>;
@group(0) @binding(5) var<storage, read> stats: array<f32>;
@group(0) @binding(6) var<storage, read> mask: array<u32>;
@group(0) @binding(7) var<storage, read_write> dq: array<f32>;

var<workgroup> ks: array<f32, TK * D>;
var<workgroup> vs: array<f32, TK * D>;
var<workgroup> kok: array<u32, TK>;

@compute @workgroup_size(BQ)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let head = wid.y;
  let kvh = head / (p.hq / p.hkv);
  let i = wid.x * BQ + lid;
  let live = i < p.seq;
  let row = min(i, p.seq - 1u);
  let kLo = mask[4u * row];
  let kHi = mask[4u * row + 1u];
  let r = row * p.hq + head;
  let qBase = r * D;
  let lse = stats[2u * r];
  let delta = stats[2u * r + 1u];

  var qr: array<f32, MAX_D>;
  var gr: array<f32, MAX_D>;
  var acc: array<f32, MAX_D>;
  for (var d = 0u; d < D; d++) {
    qr[d] = q[qBase + d] * p.scale;
    gr[d] = dout[qBase + d];
    acc[d] = 0.0;
  }

  let lo = mask[p.blockOffset + 2u * wid.x];
  let hi = mask[p.blockOffset + 2u * wid.x + 1u];
  for (var t0 = lo; t0 < hi; t0 += TK) {
    workgroupBarrier();
    for (var e = lid; e < TK * D; e += BQ) {
      let j = t0 + e / D;
      let src = (min(j, p.seq - 1u) * p.hkv + kvh) * D + e % D;
      ks[e] = k[src];
      vs[e] = v[src];
    }
    for (var e = lid; e < TK; e += BQ) {
      let j = min(t0 + e, p.seq - 1u);
      kok[e] = u32(t0 + e < hi && mask[4u * j + 2u] < mask[4u * j + 3u]);
    }
    workgroupBarrier();
    let jLo = max(kLo, t0);
    let jHi = select(jLo, min(kHi, t0 + TK), live);
    for (var j = jLo; j < jHi; j++) {
      let jj = j - t0;
      if (kok[jj] != 0u) {
        var s = 0.0;
        var dp = 0.0;
        for (var d = 0u; d < D; d++) {
          s += qr[d] * ks[jj * D + d];
          dp += gr[d] * vs[jj * D + d];
        }
        let ds = exp(s - lse) * (dp - delta);
        for (var d = 0u; d < D; d++) {
          acc[d] += ds * ks[jj * D + d];
        }
      }
    }
  }

  if (!live) {
    return;
  }
  for (var d = 0u; d < D; d++) {
    dq[qBase + d] = acc[d] * p.scale;
  }
}
