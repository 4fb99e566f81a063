// Attention backward, dq, for CPU adapters: the contract of attention_backward_dq.wgsl
// (dq_i = scale * sum_j p_ij (dO_i . v_j - delta_i) k_j, probabilities recomputed from the saved
// logsumexp) laid out as attention_forward_sg.wgsl: a workgroup of 8 lanes in one subgroup for 16 query
// rows (two blocks of 8) and one head, key tiles of 32 with lane L owning keys 4L..4L+3. Each tile forms
// the 16 x 4 blocks of q . k and dO . v from broadcast rows, in a pass each (two products in one loop
// keep too much live on these adapters), then broadcasts dS in turn to weight the key rows; lane L owns
// the vec4 columns L, L + 8, ... of dq. Block words at p.blockOffset: (lo, hi) per 16 queries.
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
// Query rows per workgroup: RB blocks of 8, as attention_forward_sg.wgsl.
const RB: u32 = 2u;
const ROWS: u32 = 8u * RB;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<vec4f>;
@group(0) @binding(2) var<storage, read> k: array<vec4f>;
@group(0) @binding(3) var<storage, read> v: array<vec4f>;
@group(0) @binding(4) var<storage, read> dout: array<vec4f>;
@group(0) @binding(5) var<storage, read> stats: array<f32>;
@group(0) @binding(6) var<storage, read> mask: array<u32>;
@group(0) @binding(7) var<storage, read_write> dq: array<vec4f>;

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
  let head = wid.y;
  let kvh = head / (p.hq / p.hkv);
  let d4 = D / 4u;
  let nv = (d4 + 7u) / 8u;
  let i0 = wid.x * ROWS;
  var qBase: array<u32, RB>;
  for (var b = 0u; b < RB; b++) {
    qBase[b] = (min(i0 + 8u * b + lane, p.seq - 1u) * p.hq + head) * d4;
  }

  var kLo: array<u32, ROWS>;
  var kHi: array<u32, ROWS>;
  var lse: array<f32, ROWS>;
  var delta: array<f32, ROWS>;
  for (var r = 0u; r < ROWS; r++) {
    let row = min(i0 + r, p.seq - 1u);
    kLo[r] = mask[4u * row];
    kHi[r] = select(kLo[r], mask[4u * row + 1u], i0 + r < p.seq);
    lse[r] = stats[2u * (row * p.hq + head)];
    delta[r] = stats[2u * (row * p.hq + head) + 1u];
  }

  var acc: array<array<vec4f, NV_MAX>, ROWS>;
  for (var r = 0u; r < ROWS; r++) {
    for (var c = 0u; c < NV_MAX; c++) {
      acc[r][c] = vec4f(0.0);
    }
  }

  let lo = mask[p.blockOffset + 2u * wid.x];
  let hi = mask[p.blockOffset + 2u * wid.x + 1u];
  for (var t0 = lo; t0 < hi; t0 += 32u) {
    let keys = vec4u(t0 + 4u * lane) + vec4u(0u, 1u, 2u, 3u);
    let kc = min(keys, vec4u(p.seq - 1u));
    var keyOk: vec4<bool>;
    for (var j = 0u; j < 4u; j++) {
      keyOk[j] = keys[j] < hi && mask[4u * kc[j] + 2u] < mask[4u * kc[j] + 3u];
    }
    let kb = (kc * p.hkv + vec4u(kvh)) * d4;

    // Zeroed by hand: lavapipe does not re-zero a var declared in a loop body on each iteration.
    var sc: array<vec4f, ROWS>;
    var dp: array<vec4f, ROWS>;
    for (var r = 0u; r < ROWS; r++) {
      sc[r] = vec4f(0.0);
      dp[r] = vec4f(0.0);
    }
    for (var dv = 0u; dv < d4; dv++) {
      let ka = k[kb.x + dv];
      let kbv = k[kb.y + dv];
      let kcv = k[kb.z + dv];
      let kd = k[kb.w + dv];
      for (var bl = 0u; bl < RB; bl++) {
        let qs = broadcast8(q[qBase[bl] + dv]);
        for (var r = 0u; r < 8u; r++) {
          sc[8u * bl + r] += vec4f(dot(qs[r], ka), dot(qs[r], kbv), dot(qs[r], kcv), dot(qs[r], kd));
        }
      }
    }
    for (var dv = 0u; dv < d4; dv++) {
      let va = v[kb.x + dv];
      let vb = v[kb.y + dv];
      let vc = v[kb.z + dv];
      let vd = v[kb.w + dv];
      for (var bl = 0u; bl < RB; bl++) {
        let gs = broadcast8(dout[qBase[bl] + dv]);
        for (var r = 0u; r < 8u; r++) {
          dp[8u * bl + r] += vec4f(dot(gs[r], va), dot(gs[r], vb), dot(gs[r], vc), dot(gs[r], vd));
        }
      }
    }

    var ds: array<vec4f, ROWS>;
    for (var r = 0u; r < ROWS; r++) {
      let ok = keyOk & (keys >= vec4u(kLo[r])) & (keys < vec4u(kHi[r]));
      let pr = select(vec4f(0.0), exp(sc[r] * p.scale - vec4f(lse[r])), ok);
      ds[r] = pr * (dp[r] - vec4f(delta[r]));
    }

    for (var src = 0u; src < 8u; src++) {
      var db: array<vec4f, ROWS>;
      for (var r = 0u; r < ROWS; r++) {
        db[r] = subgroupShuffle(ds[r], src);
      }
      for (var j = 0u; j < 4u; j++) {
        let kr = (min(t0 + 4u * src + j, p.seq - 1u) * p.hkv + kvh) * d4;
        for (var c = 0u; c < nv; c++) {
          let kk = k[kr + min(lane + 8u * c, d4 - 1u)];
          for (var r = 0u; r < ROWS; r++) {
            acc[r][c] += db[r][j] * kk;
          }
        }
      }
    }
  }

  for (var r = 0u; r < ROWS; r++) {
    let row = i0 + r;
    if (row < p.seq) {
      for (var c = 0u; c < nv; c++) {
        let col = lane + 8u * c;
        if (col < d4) {
          dq[(row * p.hq + head) * d4 + col] = acc[r][c] * p.scale;
        }
      }
    }
  }
}
