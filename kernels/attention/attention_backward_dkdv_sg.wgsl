// Attention backward, dk and dv, for CPU adapters: the contract of attention_backward_dkdv.wgsl
// (dv_j = sum_i p_ij dO_i, dk_j = scale * sum_i p_ij (dO_i . v_j - delta_i) q_i over every query head
// sharing the kv head, probabilities recomputed from the saved logsumexp) laid out as
// attention_forward_sg.wgsl with keys and queries swapped: a workgroup of 8 lanes in one subgroup for 16
// keys (two blocks of 8) and one kv head, query tiles of 32 with lane L owning queries 4L..4L+3. Each
// tile forms the 16 x 4 blocks of k . q and v . dO from broadcast key rows, then broadcasts p and dS in
// turn to weight the dO and q rows; lane L owns the vec4 columns L, L + 8, ... of dk and dv. Each product
// has a pass of its own: on these adapters what one loop keeps live decides its speed, and two products
// in one loop spill. Block words at p.blockOffset: (lo, hi) per 16 keys, the union of their query ranges.
enable subgroups;

struct Params {
  seq: u32,
  hq: u32,
  hkv: u32,
  blockOffset: u32,
  scale: f32,
}

override D: u32 = 64u;

const NV_MAX: u32 = 4u;
// Keys per workgroup: KB blocks of 8, as the query blocks of attention_forward_sg.wgsl.
const KB: u32 = 2u;
const KEYS: u32 = 8u * KB;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<vec4f>;
@group(0) @binding(2) var<storage, read> k: array<vec4f>;
@group(0) @binding(3) var<storage, read> v: array<vec4f>;
@group(0) @binding(4) var<storage, read> dout: array<vec4f>;
@group(0) @binding(5) var<storage, read> stats: array<vec2f>;
@group(0) @binding(6) var<storage, read> mask: array<u32>;
@group(0) @binding(7) var<storage, read_write> dkOut: array<vec4f>;
@group(0) @binding(8) var<storage, read_write> dvOut: array<vec4f>;

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

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  let kvh = wid.y;
  let ratio = p.hq / p.hkv;
  let d4 = D / 4u;
  let nv = (d4 + 7u) / 8u;
  let j0 = wid.x * KEYS;
  var kBase: array<u32, KB>;
  for (var b = 0u; b < KB; b++) {
    kBase[b] = (min(j0 + 8u * b + lane, p.seq - 1u) * p.hkv + kvh) * d4;
  }

  // Each key's query range; a key past the end gets an empty one.
  var qLo: array<u32, KEYS>;
  var qHi: array<u32, KEYS>;
  for (var r = 0u; r < KEYS; r++) {
    let key = min(j0 + r, p.seq - 1u);
    qLo[r] = mask[4u * key + 2u];
    qHi[r] = select(qLo[r], mask[4u * key + 3u], j0 + r < p.seq);
  }

  var dk: array<array<vec4f, NV_MAX>, KEYS>;
  var dv: array<array<vec4f, NV_MAX>, KEYS>;
  for (var r = 0u; r < KEYS; r++) {
    for (var c = 0u; c < NV_MAX; c++) {
      dk[r][c] = vec4f(0.0);
      dv[r][c] = vec4f(0.0);
    }
  }

  let lo = mask[p.blockOffset + 2u * wid.x];
  let hi = mask[p.blockOffset + 2u * wid.x + 1u];
  for (var hh = 0u; hh < ratio; hh++) {
    let head = kvh * ratio + hh;
    for (var t0 = lo; t0 < hi; t0 += 32u) {
      let qs = vec4u(t0 + 4u * lane) + vec4u(0u, 1u, 2u, 3u);
      let qc = min(qs, vec4u(p.seq - 1u));
      let rows = qc * p.hq + vec4u(head);
      let sa = stats[rows.x];
      let sb = stats[rows.y];
      let sc4 = stats[rows.z];
      let sd = stats[rows.w];
      let lse = vec4f(sa.x, sb.x, sc4.x, sd.x);
      let delta = vec4f(sa.y, sb.y, sc4.y, sd.y);
      let qb = rows * d4;

      // Zeroed by hand: lavapipe does not re-zero a var declared in a loop body on each iteration.
      var st: array<vec4f, KEYS>;
      var dpt: array<vec4f, KEYS>;
      for (var r = 0u; r < KEYS; r++) {
        st[r] = vec4f(0.0);
        dpt[r] = vec4f(0.0);
      }
      for (var e = 0u; e < d4; e++) {
        let qa = q[qb.x + e];
        let qbv = q[qb.y + e];
        let qcv = q[qb.z + e];
        let qd = q[qb.w + e];
        for (var b = 0u; b < KB; b++) {
          let ks = broadcast8(k[kBase[b] + e]);
          for (var r = 0u; r < 8u; r++) {
            st[8u * b + r] += vec4f(dot(ks[r], qa), dot(ks[r], qbv), dot(ks[r], qcv), dot(ks[r], qd));
          }
        }
      }
      for (var e = 0u; e < d4; e++) {
        let ga = dout[qb.x + e];
        let gb = dout[qb.y + e];
        let gc = dout[qb.z + e];
        let gd = dout[qb.w + e];
        for (var b = 0u; b < KB; b++) {
          let vs = broadcast8(v[kBase[b] + e]);
          for (var r = 0u; r < 8u; r++) {
            dpt[8u * b + r] += vec4f(dot(vs[r], ga), dot(vs[r], gb), dot(vs[r], gc), dot(vs[r], gd));
          }
        }
      }

      var pt: array<vec4f, KEYS>;
      var dst: array<vec4f, KEYS>;
      for (var r = 0u; r < KEYS; r++) {
        let ok = (qs < vec4u(hi)) & (qs >= vec4u(qLo[r])) & (qs < vec4u(qHi[r]));
        pt[r] = select(vec4f(0.0), exp(st[r] * p.scale - lse), ok);
        dst[r] = pt[r] * (dpt[r] - delta);
      }

      for (var src = 0u; src < 8u; src++) {
        var pb: array<vec4f, KEYS>;
        for (var r = 0u; r < KEYS; r++) {
          pb[r] = subgroupShuffle(pt[r], src);
        }
        for (var j = 0u; j < 4u; j++) {
          let qr = (min(t0 + 4u * src + j, p.seq - 1u) * p.hq + head) * d4;
          for (var c = 0u; c < nv; c++) {
            let g = dout[qr + min(lane + 8u * c, d4 - 1u)];
            for (var r = 0u; r < KEYS; r++) {
              dv[r][c] += pb[r][j] * g;
            }
          }
        }
      }
      for (var src = 0u; src < 8u; src++) {
        var db: array<vec4f, KEYS>;
        for (var r = 0u; r < KEYS; r++) {
          db[r] = subgroupShuffle(dst[r], src);
        }
        for (var j = 0u; j < 4u; j++) {
          let qr = (min(t0 + 4u * src + j, p.seq - 1u) * p.hq + head) * d4;
          for (var c = 0u; c < nv; c++) {
            let qq = q[qr + min(lane + 8u * c, d4 - 1u)];
            for (var r = 0u; r < KEYS; r++) {
              dk[r][c] += db[r][j] * qq;
            }
          }
        }
      }
    }
  }

  for (var r = 0u; r < KEYS; r++) {
    let key = j0 + r;
    if (key < p.seq) {
      for (var c = 0u; c < nv; c++) {
        let col = lane + 8u * c;
        if (col < d4) {
          let at = (key * p.hkv + kvh) * d4 + col;
          dkOut[at] = dk[r][c] * p.scale;
          dvOut[at] = dv[r][c];
        }
      }
    }
  }
}
