// Attention of one new query row per sequence against that sequence's KV cache (generation): for row r
// and query head h, o[r, h] = softmax(scale * q[r, h] . k[r, j]) . v[r, j] over cached keys
// j < lengths[r], with kv head h / (HQ / HKV). The cache is [rows, maxLen, HKV, D].
// One workgroup per (row, head). Keys go WG at a time: each invocation scores one key of the tile,
// the tile's max and sum come from workgroup reductions (online softmax), and each invocation then
// accumulates the value columns d = lid, lid + WG, ... over the tile. A row of length 0 gets o = 0.

struct Params {
  rows: u32,
  hq: u32,
  hkv: u32,
  maxLen: u32,
  scale: f32,
}

override D: u32 = 64u;
override WG: u32 = 64u;

// Value columns per invocation: D <= WG * PER.
const PER: u32 = 4u;
const NEG: f32 = -3.0e38;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read> lengths: array<u32>;
@group(0) @binding(5) var<storage, read_write> o: array<f32>;

var<workgroup> qs: array<f32, D>;
var<workgroup> pr: array<f32, WG>;
var<workgroup> red: array<f32, WG>;

fn reduce_max(lid: u32, x: f32) -> f32 {
  red[lid] = x;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      red[lid] = max(red[lid], red[lid + s]);
    }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

fn reduce_sum(lid: u32, x: f32) -> f32 {
  red[lid] = x;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      red[lid] += red[lid + s];
    }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x;
  let head = wid.y;
  let kvh = head / (p.hq / p.hkv);
  let len = min(lengths[row], p.maxLen);
  let qBase = (row * p.hq + head) * D;
  for (var d = lid; d < D; d += WG) {
    qs[d] = q[qBase + d] * p.scale;
  }
  workgroupBarrier();

  var acc: array<f32, PER>;
  for (var i = 0u; i < PER; i++) {
    acc[i] = 0.0;
  }
  var m = NEG;
  var l = 0.0;
  let stride = p.hkv * D;
  let cacheBase = row * p.maxLen * stride + kvh * D;

  for (var t0 = 0u; t0 < len; t0 += WG) {
    let j = t0 + lid;
    let ok = j < len;
    var s = NEG;
    if (ok) {
      let kb = cacheBase + j * stride;
      var dot = 0.0;
      for (var d = 0u; d < D; d++) {
        dot += qs[d] * k[kb + d];
      }
      s = dot;
    }
    // The tile's first key is always live, so the tile max is finite.
    let mNew = max(m, reduce_max(lid, s));
    let c = exp(m - mNew);
    let pj = select(0.0, exp(s - mNew), ok);
    pr[lid] = pj;
    l = l * c + reduce_sum(lid, pj);
    let n = min(WG, len - t0);
    for (var i = 0u; i < PER; i++) {
      let d = lid + i * WG;
      if (d < D) {
        var a = acc[i] * c;
        for (var jj = 0u; jj < n; jj++) {
          a += pr[jj] * v[cacheBase + (t0 + jj) * stride + d];
        }
        acc[i] = a;
      }
    }
    m = mNew;
    workgroupBarrier();
  }

  let inv = select(0.0, 1.0 / l, l > 0.0);
  for (var i = 0u; i < PER; i++) {
    let d = lid + i * WG;
    if (d < D) {
      o[qBase + d] = acc[i] * inv;
    }
  }
}
