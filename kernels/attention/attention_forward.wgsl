// Attention forward, flash-attention style: o = softmax(scale * q . k^T + mask) . v per query and head,
// with an online softmax over tiles of keys (no [S, S] matrix), and the logsumexp of each row saved
// for the backward. Grouped-query: query head h reads kv head h / (HQ / HKV).
// One workgroup per block of BQ queries and one head; each invocation owns one query row. The keys of
// the block's range are staged TK at a time in workgroup memory.
// mask[4t..4t+4] for token t = (kLo, kHi, qLo, qHi): query t may attend keys [kLo, kHi); key t is
// attended by queries [qLo, qHi), empty for a padded key. Block ranges start at p.blockOffset: two
// words (lo, hi) per query block, the union of its queries' key ranges.
// A row with no key to attend gets o = 0 and lse = 0.

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
const MAX_TK: u32 = 64u;
const NEG: f32 = -3.0e38;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read> mask: array<u32>;
@group(0) @binding(5) var<storage, read_write> o: array<f32>;
@group(0) @binding(6) var<storage, read_write> lse: array<f32>;

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
  let qBase = (row * p.hq + head) * D;

  var qr: array<f32, MAX_D>;
  var acc: array<f32, MAX_D>;
  var sc: array<f32, MAX_TK>;
  for (var d = 0u; d < D; d++) {
    qr[d] = q[qBase + d] * p.scale;
    acc[d] = 0.0;
  }
  var m = NEG;
  var l = 0.0;

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
    var tmax = NEG;
    for (var j = jLo; j < jHi; j++) {
      let jj = j - t0;
      if (kok[jj] != 0u) {
        var s = 0.0;
        for (var d = 0u; d < D; d++) {
          s += qr[d] * ks[jj * D + d];
        }
        sc[jj] = s;
        tmax = max(tmax, s);
      }
    }
    if (tmax > NEG) {
      let mNew = max(m, tmax);
      let c = exp(m - mNew);
      l *= c;
      for (var d = 0u; d < D; d++) {
        acc[d] *= c;
      }
      for (var j = jLo; j < jHi; j++) {
        let jj = j - t0;
        if (kok[jj] != 0u) {
          let pj = exp(sc[jj] - mNew);
          l += pj;
          for (var d = 0u; d < D; d++) {
            acc[d] += pj * vs[jj * D + d];
          }
        }
      }
      m = mNew;
    }
  }

  if (!live) {
    return;
  }
  let inv = select(0.0, 1.0 / l, l > 0.0);
  for (var d = 0u; d < D; d++) {
    o[qBase + d] = acc[d] * inv;
  }
  lse[row * p.hq + head] = select(0.0, m + log(l), l > 0.0);
}
