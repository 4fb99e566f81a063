// Attention backward, dk and dv: for each key j and kv head, recomputes p_ij = exp(scale q_i . k_j -
// lse_i) for the queries that attend it, over every query head sharing the kv head, and sums
// dv_j = sum_i p_ij dO_i and dk_j = scale * sum_i p_ij (dO_i . v_j - delta_i) q_i, in tiles of TQ
// queries staged in workgroup memory (no [S, S] matrix). One workgroup per block of BK keys and one kv
// head, one invocation per key. Mask buffer as in attention_forward.wgsl; the block ranges at
// p.blockOffset are here the union of the block's keys' query ranges. stats holds (lse, delta).

struct Params {
  seq: u32,
  hq: u32,
  hkv: u32,
  blockOffset: u32,
  scale: f32,
}

override D: u32 = 64u;
override BK: u32 = 64u;
override TQ: u32 = 32u;

const MAX_D: u32 = 128u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read> dout: array<f32>;
@group(0) @binding(5) var<storage, read> stats: array<f32>;
@group(0) @binding(6) var<storage, read> mask: array<u32>;
@group(0) @binding(7) var<storage, read_write> dkOut: array<f32>;
@group(0) @binding(8) var<storage, read_write> dvOut: array<f32>;

var<workgroup> qs: array<f32, TQ * D>;
var<workgroup> gs: array<f32, TQ * D>;
var<workgroup> st: array<f32, 2 * TQ>;

@compute @workgroup_size(BK)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let kvh = wid.y;
  let ratio = p.hq / p.hkv;
  let j = wid.x * BK + lid;
  let live = j < p.seq;
  let col = min(j, p.seq - 1u);
  let iLo = mask[4u * col + 2u];
  let iHi = mask[4u * col + 3u];
  let kBase = (col * p.hkv + kvh) * D;

  var kr: array<f32, MAX_D>;
  var vr: array<f32, MAX_D>;
  var dk: array<f32, MAX_D>;
  var dv: array<f32, MAX_D>;
  for (var d = 0u; d < D; d++) {
    kr[d] = k[kBase + d] * p.scale;
    vr[d] = v[kBase + d];
    dk[d] = 0.0;
    dv[d] = 0.0;
  }

  let lo = mask[p.blockOffset + 2u * wid.x];
  let hi = mask[p.blockOffset + 2u * wid.x + 1u];
  for (var hh = 0u; hh < ratio; hh++) {
    let head = kvh * ratio + hh;
    for (var t0 = lo; t0 < hi; t0 += TQ) {
      workgroupBarrier();
      for (var e = lid; e < TQ * D; e += BK) {
        let i = min(t0 + e / D, p.seq - 1u);
        let src = (i * p.hq + head) * D + e % D;
        qs[e] = q[src];
        gs[e] = dout[src];
      }
      for (var e = lid; e < 2u * TQ; e += BK) {
        let i = min(t0 + e / 2u, p.seq - 1u);
        st[e] = stats[2u * (i * p.hq + head) + e % 2u];
      }
      workgroupBarrier();
      let i0 = max(iLo, t0);
      let i1 = select(i0, min(iHi, t0 + TQ), live);
      for (var i = i0; i < i1; i++) {
        let ii = i - t0;
        var s = 0.0;
        var dp = 0.0;
        for (var d = 0u; d < D; d++) {
          s += kr[d] * qs[ii * D + d];
          dp += vr[d] * gs[ii * D + d];
        }
        let pij = exp(s - st[2u * ii]);
        let ds = pij * (dp - st[2u * ii + 1u]);
        for (var d = 0u; d < D; d++) {
          dv[d] += pij * gs[ii * D + d];
          dk[d] += ds * qs[ii * D + d];
        }
      }
    }
  }

  if (!live) {
    return;
  }
  for (var d = 0u; d < D; d++) {
    dkOut[kBase + d] = dk[d] * p.scale;
    dvOut[kBase + d] = dv[d];
  }
}
