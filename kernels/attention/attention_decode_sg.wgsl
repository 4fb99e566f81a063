// Attention of one new query row per sequence against its KV cache, for CPU adapters: the contract of
// attention_decode.wgsl (cache [rows, maxLen, HKV, D], keys j < lengths[r], GQA, online softmax; a row
// of length 0 gets o = 0) without workgroup barriers, which CPU adapters run by switching between the
// workgroup's lanes. A workgroup is 8 lanes in one subgroup for one (row, head); key tiles are 32 wide,
// lane L scoring keys 4L..4L+3, with the tile's max and sum from subgroupMax / subgroupAdd; lane L owns
// the vec4 columns L, L + 8, ... of the output, and each lane's 4 probabilities are shuffled to all in
// turn to weight the value rows. Needs D % 4 == 0 and the subgroups feature with at least 8 lanes.
enable subgroups;

struct Params {
  rows: u32,
  hq: u32,
  hkv: u32,
  maxLen: u32,
  scale: f32,
}

override D: u32 = 64u;

// vec4 columns per lane: ceil(D / 32), at most 256 / 32.
const NV_MAX: u32 = 8u;
const NEG: f32 = -3.0e38;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<vec4f>;
@group(0) @binding(2) var<storage, read> k: array<vec4f>;
@group(0) @binding(3) var<storage, read> v: array<vec4f>;
@group(0) @binding(4) var<storage, read> lengths: array<u32>;
@group(0) @binding(5) var<storage, read_write> o: array<vec4f>;

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  let row = wid.x;
  let head = wid.y;
  let kvh = head / (p.hq / p.hkv);
  let d4 = D / 4u;
  let nv = (d4 + 7u) / 8u;
  let len = min(lengths[row], p.maxLen);
  let qBase = (row * p.hq + head) * d4;
  let stride = p.hkv * d4;
  let cacheBase = row * p.maxLen * stride + kvh * d4;

  var acc: array<vec4f, NV_MAX>;
  for (var c = 0u; c < NV_MAX; c++) {
    acc[c] = vec4f(0.0);
  }
  var m = NEG;
  var l = 0.0;

  for (var t0 = 0u; t0 < len; t0 += 32u) {
    let keys = vec4u(t0 + 4u * lane) + vec4u(0u, 1u, 2u, 3u);
    let ok = keys < vec4u(len);
    let kb = vec4u(cacheBase) + min(keys, vec4u(len - 1u)) * stride;
    var s = vec4f(0.0);
    for (var dv = 0u; dv < d4; dv++) {
      let qv = q[qBase + dv];
      s += vec4f(dot(qv, k[kb.x + dv]), dot(qv, k[kb.y + dv]), dot(qv, k[kb.z + dv]), dot(qv, k[kb.w + dv]));
    }
    s = select(vec4f(NEG), s * p.scale, ok);
    let mNew = max(m, subgroupMax(max(max(s.x, s.y), max(s.z, s.w))));
    let corr = exp(m - mNew);
    let pr = select(vec4f(0.0), exp(s - vec4f(mNew)), ok);
    l = l * corr + subgroupAdd(pr.x + pr.y + pr.z + pr.w);
    m = mNew;
    for (var c = 0u; c < nv; c++) {
      acc[c] *= corr;
    }
    for (var src = 0u; src < 8u; src++) {
      let pb = subgroupShuffle(pr, src);
      for (var j = 0u; j < 4u; j++) {
        let key = t0 + 4u * src + j;
        if (key < len) {
          let vb = cacheBase + key * stride;
          for (var c = 0u; c < nv; c++) {
            acc[c] += pb[j] * v[vb + min(lane + 8u * c, d4 - 1u)];
          }
        }
      }
    }
  }

  let inv = select(0.0, 1.0 / l, l > 0.0);
  for (var c = 0u; c < nv; c++) {
    let col = lane + 8u * c;
    if (col < d4) {
      o[qBase + col] = acc[c] * inv;
    }
  }
}
