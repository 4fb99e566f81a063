// Attention forward for adapters that run invocations as SIMD lanes on a CPU (lavapipe, SwiftShader):
// the contract of attention_forward.wgsl (online softmax over key tiles, logsumexp saved, GQA, the same
// mask words), computed as two small matmuls per tile the way matmul_sg.wgsl does, so that values are
// shared through subgroupBroadcast instead of loaded by every lane.
// A workgroup is 8 lanes in one subgroup, for 16 query rows (two blocks of 8) and one head; key tiles are
// 32 wide, lane L owning keys 4L..4L+3 of the tile. On these adapters a storage load is a loop over the
// lanes and the components, bounds-checked each, while private memory is read a whole vector at a time;
// so each lane copies its query row of each block into private memory once, and every key and value row
// loaded serves 16 queries. Scores: lane r's query row of each block is broadcast to all, each lane forms
// the 16 x 4 scores of its keys. Softmax: the running maxima move only in a tile where some row's score
// passes its maximum by more than RESCALE (one subgroupAny per tile), so most tiles skip rescaling the
// accumulators; probabilities stay below exp(RESCALE) and the result is unchanged. Each lane keeps its
// share of the row sums, added across lanes (subgroupAdd) at the end. Output: lane L owns the vec4 columns
// L, L + 8, ... of the head dim, and each lane's 16 x 4 probabilities are broadcast in turn
// (subgroupShuffle) to weight the value rows. Needs D % 4 == 0, D <= 128 and the subgroups feature with at
// least 8 lanes. The block words at p.blockOffset are (lo, hi) per block of 16 queries.
enable subgroups;
// subgroupAny's result is the same in every lane, so what it guards is subgroup-uniform.
diagnostic(off, subgroup_uniformity);

struct Params {
  seq: u32,
  hq: u32,
  hkv: u32,
  blockOffset: u32,
  scale: f32,
}

override D: u32 = 64u;

// vec4 columns of the head dim per lane: ceil(D / 32), at most 128 / 32.
const NV_MAX: u32 = 4u;
// vec4 columns of the head dim: D / 4, at most 128 / 4.
const D4_MAX: u32 = 32u;
// Query rows per workgroup: RB blocks of 8. Every private array indexed by a loop counter is as long as
// the loop, which makes the compiler unroll the loop and keep the array in registers.
const RB: u32 = 2u;
const ROWS: u32 = 8u * RB;
const NEG: f32 = -3.0e38;
const RESCALE: f32 = 8.0;
// A row's maximum before its first key: far above NEG, so that exp(NEG - EMPTY) is 0 for masked keys.
const EMPTY: f32 = -1.0e38;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<vec4f>;
@group(0) @binding(2) var<storage, read> k: array<vec4f>;
@group(0) @binding(3) var<storage, read> v: array<vec4f>;
@group(0) @binding(4) var<storage, read> mask: array<u32>;
@group(0) @binding(5) var<storage, read_write> o: array<vec4f>;
@group(0) @binding(6) var<storage, read_write> lse: array<f32>;

fn broadcast8(x: vec4f) -> array<vec4f, 8> {
  return array<vec4f, 8>(
    subgroupBroadcast(x, 0u),
    subgroupBroadcast(x, 1u),
    subgroupBroadcast(x, 2u),
    subgroupBroadcast(x, 3u),
    subgroupBroadcast(x, 4u),
    subgroupBroadcast(x, 5u),
    subgroupBroadcast(x, 6u),
    subgroupBroadcast(x, 7u),
  );
}

// acc[r, c] += sum over 4 keys from keyBase of probs[r][j] * v[key j, this lane's column c].
fn accumulateFrom(
  acc: ptr<function, array<array<vec4f, NV_MAX>, ROWS>>,
  probs: array<vec4f, ROWS>,
  keyBase: u32,
  kvh: u32,
  lane: u32,
) {
  let d4 = D / 4u;
  let nv = (d4 + 7u) / 8u;
  for (var j = 0u; j < 4u; j++) {
    let kv = (min(keyBase + j, p.seq - 1u) * p.hkv + kvh) * d4;
    for (var c = 0u; c < nv; c++) {
      let col = min(lane + 8u * c, d4 - 1u);
      let vv = v[kv + col];
      for (var r = 0u; r < ROWS; r++) {
        (*acc)[r][c] += probs[r][j] * vv;
      }
    }
  }
}

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  let head = wid.y;
  let kvh = head / (p.hq / p.hkv);
  let d4 = D / 4u;
  let nv = (d4 + 7u) / 8u;
  let i0 = wid.x * ROWS;
  var qBase: array<u32, RB>;
  for (var b = 0u; b < RB; b++) {
    qBase[b] = (min(i0 + 8u * b + lane, p.seq - 1u) * p.hq + head) * d4;
  }

  var qOwn: array<array<vec4f, D4_MAX>, RB>;
  for (var bl = 0u; bl < RB; bl++) {
    for (var dv = 0u; dv < D4_MAX; dv++) {
      if (dv < d4) {
        qOwn[bl][dv] = q[qBase[bl] + dv];
      }
    }
  }
  // Each row's key range; a row past the end gets an empty one.
  var kLo: array<u32, ROWS>;
  var kHi: array<u32, ROWS>;
  for (var r = 0u; r < ROWS; r++) {
    let row = min(i0 + r, p.seq - 1u);
    kLo[r] = mask[4u * row];
    kHi[r] = select(kLo[r], mask[4u * row + 1u], i0 + r < p.seq);
  }

  var acc: array<array<vec4f, NV_MAX>, ROWS>;
  var m: array<f32, ROWS>;
  var l: array<f32, ROWS>;
  for (var r = 0u; r < ROWS; r++) {
    m[r] = EMPTY;
    l[r] = 0.0;
  }

  let lo = mask[p.blockOffset + 2u * wid.x];
  let hi = mask[p.blockOffset + 2u * wid.x + 1u];
  for (var t0 = lo; t0 < hi; t0 += 32u) {
    let kb = t0 + 4u * lane;
    let keys = vec4u(kb) + vec4u(0u, 1u, 2u, 3u);
    let kc = min(keys, vec4u(p.seq - 1u));
    var keyOk: vec4<bool>;
    for (var j = 0u; j < 4u; j++) {
      keyOk[j] = keys[j] < hi && mask[4u * kc[j] + 2u] < mask[4u * kc[j] + 3u];
    }
    let k0 = (kc.x * p.hkv + kvh) * d4;
    let k1 = (kc.y * p.hkv + kvh) * d4;
    let k2 = (kc.z * p.hkv + kvh) * d4;
    let k3 = (kc.w * p.hkv + kvh) * d4;

    // Zeroed by hand: lavapipe does not re-zero a var declared in a loop body on each iteration.
    var sc: array<vec4f, ROWS>;
    for (var r = 0u; r < ROWS; r++) {
      sc[r] = vec4f(0.0);
    }
    // As long as qOwn rather than d4, so that it unrolls and qOwn stays in registers.
    for (var dv = 0u; dv < D4_MAX; dv++) {
      if (dv >= d4) {
        break;
      }
      let a = k[k0 + dv];
      let b = k[k1 + dv];
      let c = k[k2 + dv];
      let e = k[k3 + dv];
      for (var bl = 0u; bl < RB; bl++) {
        let qs = broadcast8(qOwn[bl][dv]);
        for (var r = 0u; r < 8u; r++) {
          let x = qs[r];
          sc[8u * bl + r] += vec4f(dot(x, a), dot(x, b), dot(x, c), dot(x, e));
        }
      }
    }

    var lmax: array<f32, ROWS>;
    var grow = false;
    for (var r = 0u; r < ROWS; r++) {
      let ok = keyOk & (keys >= vec4u(kLo[r])) & (keys < vec4u(kHi[r]));
      let s = select(vec4f(NEG), sc[r] * p.scale, ok);
      sc[r] = s;
      lmax[r] = max(max(s.x, s.y), max(s.z, s.w));
      grow = grow || lmax[r] > m[r] + RESCALE;
    }
    if (subgroupAny(grow)) {
      for (var r = 0u; r < ROWS; r++) {
        let tmax = subgroupMax(lmax[r]);
        let moves = tmax > m[r] + RESCALE;
        let corr = select(1.0, exp(m[r] - tmax), moves);
        l[r] *= corr;
        for (var c = 0u; c < NV_MAX; c++) {
          acc[r][c] *= corr;
        }
        m[r] = select(m[r], tmax, moves);
      }
    }
    var probs: array<vec4f, ROWS>;
    for (var r = 0u; r < ROWS; r++) {
      let pr = exp(sc[r] - vec4f(m[r]));
      l[r] += pr.x + pr.y + pr.z + pr.w;
      probs[r] = pr;
    }

    for (var src = 0u; src < 8u; src++) {
      var pb: array<vec4f, ROWS>;
      for (var r = 0u; r < ROWS; r++) {
        pb[r] = subgroupShuffle(probs[r], src);
      }
      accumulateFrom(&acc, pb, t0 + 4u * src, kvh, lane);
    }
  }

  for (var r = 0u; r < ROWS; r++) {
    let row = i0 + r;
    let total = subgroupAdd(l[r]);
    if (row < p.seq) {
      let inv = select(0.0, 1.0 / total, total > 0.0);
      for (var c = 0u; c < nv; c++) {
        let col = lane + 8u * c;
        if (col < d4) {
          o[(row * p.hq + head) * d4 + col] = acc[r][c] * inv;
        }
      }
      if (lane == 0u) {
        lse[row * p.hq + head] = select(0.0, m[r] + log(total), total > 0.0);
      }
    }
  }
}
