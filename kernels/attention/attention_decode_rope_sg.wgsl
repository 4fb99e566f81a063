// One decode step's RoPE, KV-cache write and attention in one dispatch, for CPU adapters: the work of
// rope_kv_write.wgsl followed by attention_decode_sg.wgsl, with the query heads that share a kv head in
// one workgroup, so each cached key and value row is loaded once for all of them. A workgroup is 8 lanes
// in one subgroup for one (row, kv head): it rotates that kv head's new key, writes it and the new value
// at position at[row] of the caches, rotates its RATIO query heads into `o` (which then holds them until
// their outputs replace them), and attends keys [0, at[row]] as attention_decode_sg.wgsl does (key tiles
// of 32, lane L scoring keys 4L..4L+3; lane L owns the vec4 columns L, L + 8, ... of each output), with
// the same sums in the same order. Needs D % 4 == 0, D <= 128, RATIO <= 8 and subgroups of 8 lanes.
enable subgroups;

struct Params {
  rows: u32,
  hkv: u32,
  maxLen: u32,
  scale: f32,
}

override D: u32 = 64u;
// Query heads per kv head.
override RATIO: u32 = 1u;

const MAX_RATIO: u32 = 8u;
// vec4 columns of the head dim per lane: ceil(D / 32), at most 128 / 32.
const NV_MAX: u32 = 4u;
const NEG: f32 = -3.0e38;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> table: array<f32>;
@group(0) @binding(2) var<storage, read> q: array<f32>;
@group(0) @binding(3) var<storage, read> k: array<f32>;
@group(0) @binding(4) var<storage, read> v: array<f32>;
@group(0) @binding(5) var<storage, read> at: array<u32>;
@group(0) @binding(6) var<storage, read_write> kCache: array<vec4f>;
@group(0) @binding(7) var<storage, read_write> vCache: array<vec4f>;
@group(0) @binding(8) var<storage, read_write> o: array<vec4f>;

// Rotates the pair (i, i + half) of the head at element `src` of x by table row r, as rope_kv_write.wgsl.
fn rotated(a: f32, b: f32, c: f32, s: f32) -> vec2f {
  return vec2f(a * c - b * s, b * c + a * s);
}

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  let row = wid.x;
  let kvh = wid.y;
  let hq = p.hkv * RATIO;
  let half = D / 2u;
  let d4 = D / 4u;
  let nv = (d4 + 7u) / 8u;
  let pos = at[row];
  let len = pos + 1u;

  // The new key (rotated) and value into the caches, the query heads (rotated) into o.
  let cosBase = row * D;
  let stride = p.hkv * D;
  let kSrc = row * stride + kvh * D;
  let kDst = (row * p.maxLen + pos) * stride + kvh * D;
  for (var i = lane; i < half; i += 8u) {
    let c = table[cosBase + i];
    let s = table[cosBase + half + i];
    let kr = rotated(k[kSrc + i], k[kSrc + half + i], c, s);
    kCacheSet(kDst + i, kr.x);
    kCacheSet(kDst + half + i, kr.y);
    vCacheSet(kDst + i, v[kSrc + i]);
    vCacheSet(kDst + half + i, v[kSrc + half + i]);
    for (var h = 0u; h < RATIO; h++) {
      let qAt = (row * hq + kvh * RATIO + h) * D;
      let qr = rotated(q[qAt + i], q[qAt + half + i], c, s);
      oSet(qAt + i, qr.x);
      oSet(qAt + half + i, qr.y);
    }
  }
  storageBarrier();

  let cacheBase = row * p.maxLen * (stride / 4u) + kvh * d4;
  let kvStride = stride / 4u;
  let qBase = (row * hq + kvh * RATIO) * d4;

  var acc: array<vec4f, 32>;
  for (var e = 0u; e < 32u; e++) {
    acc[e] = vec4f(0.0);
  }
  var m: array<f32, MAX_RATIO>;
  var l: array<f32, MAX_RATIO>;
  for (var h = 0u; h < MAX_RATIO; h++) {
    m[h] = NEG;
    l[h] = 0.0;
  }

  for (var t0 = 0u; t0 < len; t0 += 32u) {
    let keys = vec4u(t0 + 4u * lane) + vec4u(0u, 1u, 2u, 3u);
    let ok = keys < vec4u(len);
    let kb = vec4u(cacheBase) + min(keys, vec4u(len - 1u)) * kvStride;
    var s: array<vec4f, MAX_RATIO>;
    for (var h = 0u; h < MAX_RATIO; h++) {
      s[h] = vec4f(0.0);
    }
    for (var dv = 0u; dv < d4; dv++) {
      let ka = kCache[kb.x + dv];
      let kbv = kCache[kb.y + dv];
      let kc = kCache[kb.z + dv];
      let kd = kCache[kb.w + dv];
      for (var h = 0u; h < MAX_RATIO; h++) {
        if (h < RATIO) {
          let qv = o[qBase + h * d4 + dv];
          s[h] += vec4f(dot(qv, ka), dot(qv, kbv), dot(qv, kc), dot(qv, kd));
        }
      }
    }
    var pr: array<vec4f, MAX_RATIO>;
    for (var h = 0u; h < MAX_RATIO; h++) {
      if (h < RATIO) {
        let sh = select(vec4f(NEG), s[h] * p.scale, ok);
        let mNew = max(m[h], subgroupMax(max(max(sh.x, sh.y), max(sh.z, sh.w))));
        let corr = exp(m[h] - mNew);
        pr[h] = select(vec4f(0.0), exp(sh - vec4f(mNew)), ok);
        l[h] = l[h] * corr + subgroupAdd(pr[h].x + pr[h].y + pr[h].z + pr[h].w);
        m[h] = mNew;
        for (var c = 0u; c < NV_MAX; c++) {
          if (c < nv) {
            acc[h * NV_MAX + c] *= corr;
          }
        }
      }
    }
    for (var src = 0u; src < 8u; src++) {
      var pb: array<vec4f, MAX_RATIO>;
      for (var h = 0u; h < MAX_RATIO; h++) {
        if (h < RATIO) {
          pb[h] = subgroupShuffle(pr[h], src);
        }
      }
      for (var j = 0u; j < 4u; j++) {
        let key = t0 + 4u * src + j;
        if (key < len) {
          let vb = cacheBase + key * kvStride;
          for (var c = 0u; c < NV_MAX; c++) {
            if (c < nv) {
              let vv = vCache[vb + min(lane + 8u * c, d4 - 1u)];
              for (var h = 0u; h < MAX_RATIO; h++) {
                if (h < RATIO) {
                  acc[h * NV_MAX + c] += pb[h][j] * vv;
                }
              }
            }
          }
        }
      }
    }
  }

  // Every lane has read the rotated queries; the outputs replace them.
  storageBarrier();
  for (var h = 0u; h < MAX_RATIO; h++) {
    if (h < RATIO) {
      let inv = select(0.0, 1.0 / l[h], l[h] > 0.0);
      for (var c = 0u; c < NV_MAX; c++) {
        let col = lane + 8u * c;
        if (c < nv && col < d4) {
          o[qBase + h * d4 + col] = acc[h * NV_MAX + c] * inv;
        }
      }
    }
  }
}

// Scalar writes into the vec4 arrays.
fn kCacheSet(i: u32, x: f32) {
  kCache[i / 4u][i % 4u] = x;
}

fn vCacheSet(i: u32, x: f32) {
  vCache[i / 4u][i % 4u] = x;
}

fn oSet(i: u32, x: f32) {
  o[i / 4u][i % 4u] = x;
}
