// Attention forward for GPUs with subgroups: the contract of attention_forward.wgsl (online softmax over
// key tiles, logsumexp saved, GQA, the same mask words) with each query row split over a quad of four
// invocations. Lane L of a row owns the vec4 columns L, L + 4, ... of the head dim for q and the output,
// so a row's registers are a quarter of the one-invocation kernel's; a score is four partial dot products
// summed by two quad swaps. Neighbouring lanes read neighbouring vec4s of the key and value tiles in
// workgroup memory, and the rows of a subgroup read the same ones (a broadcast).
// Quads are invocations 4r..4r+3 of the workgroup, which holds where subgroup invocation ids follow the
// local invocation index of a one-dimensional workgroup (the GPUs that offer subgroups). Every subgroup
// operation is reached by the whole workgroup: the key loop runs over the block's whole tile and masked
// scores become NEG. Needs D % 4 == 0. The block words at p.blockOffset are (lo, hi) per block of BQ
// queries.
enable subgroups;

struct Params {
  seq: u32,
  hq: u32,
  hkv: u32,
  blockOffset: u32,
  scale: f32,
}

override D: u32 = 64u;
// Query rows per workgroup (four invocations each) and keys per tile.
override BQ: u32 = 32u;
override TK: u32 = 16u;
// vec4 columns of the head dim per lane: ceil(D / 16).
override NC: u32 = (D + 15u) / 16u;

const NC_MAX: u32 = 8u;
const TK_MAX: u32 = 32u;
const NEG: f32 = -3.0e38;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<vec4f>;
@group(0) @binding(2) var<storage, read> k: array<vec4f>;
@group(0) @binding(3) var<storage, read> v: array<vec4f>;
@group(0) @binding(4) var<storage, read> mask: array<u32>;
@group(0) @binding(5) var<storage, read_write> o: array<vec4f>;
@group(0) @binding(6) var<storage, read_write> lse: array<f32>;

var<workgroup> ks: array<vec4f, TK * (D / 4u)>;
var<workgroup> vs: array<vec4f, TK * (D / 4u)>;
var<workgroup> kok: array<u32, TK>;

@compute @workgroup_size(4u * BQ)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let d4 = D / 4u;
  let head = wid.y;
  let kvh = head / (p.hq / p.hkv);
  let lane = lid % 4u;
  let i = wid.x * BQ + lid / 4u;
  let live = i < p.seq;
  let row = min(i, p.seq - 1u);
  let kLo = mask[4u * row];
  let kHi = mask[4u * row + 1u];
  let qBase = (row * p.hq + head) * d4;

  var qr: array<vec4f, NC_MAX>;
  var acc: array<vec4f, NC_MAX>;
  var sc: array<f32, TK_MAX>;
  for (var c = 0u; c < NC; c++) {
    let col = lane + 4u * c;
    qr[c] = select(vec4f(0.0), q[qBase + min(col, d4 - 1u)] * p.scale, col < d4);
    acc[c] = vec4f(0.0);
  }
  var m = NEG;
  var l = 0.0;

  let lo = mask[p.blockOffset + 2u * wid.x];
  let hi = mask[p.blockOffset + 2u * wid.x + 1u];
  for (var t0 = lo; t0 < hi; t0 += TK) {
    workgroupBarrier();
    for (var e = lid; e < TK * d4; e += 4u * BQ) {
      let src = (min(t0 + e / d4, p.seq - 1u) * p.hkv + kvh) * d4 + e % d4;
      ks[e] = k[src];
      vs[e] = v[src];
    }
    for (var e = lid; e < TK; e += 4u * BQ) {
      let j = min(t0 + e, p.seq - 1u);
      kok[e] = u32(t0 + e < hi && mask[4u * j + 2u] < mask[4u * j + 3u]);
    }
    workgroupBarrier();
    var tmax = NEG;
    for (var jj = 0u; jj < TK; jj++) {
      var s = 0.0;
      for (var c = 0u; c < NC; c++) {
        let col = lane + 4u * c;
        if (col < d4) {
          s += dot(qr[c], ks[jj * d4 + col]);
        }
      }
      s += quadSwapX(s);
      s += quadSwapY(s);
      let j = t0 + jj;
      let ok = live && kok[jj] != 0u && j >= kLo && j < kHi;
      sc[jj] = select(NEG, s, ok);
      tmax = max(tmax, sc[jj]);
    }
    if (tmax > NEG) {
      let mNew = max(m, tmax);
      let f = exp(m - mNew);
      l *= f;
      for (var c = 0u; c < NC; c++) {
        acc[c] *= f;
      }
      for (var jj = 0u; jj < TK; jj++) {
        let pj = select(0.0, exp(sc[jj] - mNew), sc[jj] > NEG);
        l += pj;
        for (var c = 0u; c < NC; c++) {
          let col = lane + 4u * c;
          if (col < d4) {
            acc[c] += pj * vs[jj * d4 + col];
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
  for (var c = 0u; c < NC; c++) {
    let col = lane + 4u * c;
    if (col < d4) {
      o[qBase + col] = acc[c] * inv;
    }
  }
  if (lane == 0u) {
    lse[row * p.hq + head] = select(0.0, m + log(l), l > 0.0);
  }
}
