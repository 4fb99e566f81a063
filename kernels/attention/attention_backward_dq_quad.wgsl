// Attention backward, dq, for GPUs with subgroups: the contract of attention_backward_dq.wgsl with each
// query row split over a quad as in attention_forward_quad.wgsl (lane L owns the vec4 columns L, L + 4,
// ... of q, dO and dq; a score and dO . v are partial dot products summed by two quad swaps). Every
// subgroup operation is reached by the whole workgroup; masked keys get ds = 0. Needs D % 4 == 0.
enable subgroups;

struct Params {
  seq: u32,
  hq: u32,
  hkv: u32,
  blockOffset: u32,
  scale: f32,
}

override D: u32 = 64u;
override BQ: u32 = 32u;
override TK: u32 = 16u;
override NC: u32 = (D + 15u) / 16u;

const NC_MAX: u32 = 8u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<vec4f>;
@group(0) @binding(2) var<storage, read> k: array<vec4f>;
@group(0) @binding(3) var<storage, read> v: array<vec4f>;
@group(0) @binding(4) var<storage, read> dout: array<vec4f>;
@group(0) @binding(5) var<storage, read> stats: array<f32>;
@group(0) @binding(6) var<storage, read> mask: array<u32>;
@group(0) @binding(7) var<storage, read_write> dq: array<vec4f>;

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
  let r = row * p.hq + head;
  let qBase = r * d4;
  let lse = stats[2u * r];
  let delta = stats[2u * r + 1u];

  var qr: array<vec4f, NC_MAX>;
  var gr: array<vec4f, NC_MAX>;
  var acc: array<vec4f, NC_MAX>;
  for (var c = 0u; c < NC; c++) {
    let col = lane + 4u * c;
    let at = qBase + min(col, d4 - 1u);
    qr[c] = select(vec4f(0.0), q[at] * p.scale, col < d4);
    gr[c] = select(vec4f(0.0), dout[at], col < d4);
    acc[c] = vec4f(0.0);
  }

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
    for (var jj = 0u; jj < TK; jj++) {
      var sdp = vec2f(0.0);
      for (var c = 0u; c < NC; c++) {
        let col = lane + 4u * c;
        if (col < d4) {
          sdp += vec2f(dot(qr[c], ks[jj * d4 + col]), dot(gr[c], vs[jj * d4 + col]));
        }
      }
      sdp += quadSwapX(sdp);
      sdp += quadSwapY(sdp);
      let j = t0 + jj;
      let ok = live && kok[jj] != 0u && j >= kLo && j < kHi;
      let ds = select(0.0, exp(sdp.x - lse) * (sdp.y - delta), ok);
      for (var c = 0u; c < NC; c++) {
        let col = lane + 4u * c;
        if (col < d4) {
          acc[c] += ds * ks[jj * d4 + col];
        }
      }
    }
  }

  if (!live) {
    return;
  }
  for (var c = 0u; c < NC; c++) {
    let col = lane + 4u * c;
    if (col < d4) {
      dq[qBase + col] = acc[c] * p.scale;
    }
  }
}
