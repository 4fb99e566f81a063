// Attention backward, dk and dv, for GPUs with subgroups: the sums of attention_backward_dkdv.wgsl with
// each key row split over a quad as in attention_forward_quad.wgsl (lane L owns the vec4 columns L,
// L + 4, ... of k, v, dk and dv; q . k and dO . v are partial dot products summed by two quad swaps).
// One workgroup per block of BK keys and one query head: it writes that head's share of dk and dv for
// the keys' kv head into partDk / partDv, laid out as q ([S, Hq, D]), so that the workgroups of the
// query heads sharing a kv head run side by side; attention_backward_reduce.wgsl sums the shares (with
// one query head per kv head the shares are dk and dv). Queries are staged TQ
// at a time in workgroup memory; the block ranges at p.blockOffset are the union of the block's keys'
// query ranges. Every subgroup operation is reached by the whole workgroup. Needs D % 4 == 0.
enable subgroups;

struct Params {
  seq: u32,
  hq: u32,
  hkv: u32,
  blockOffset: u32,
  scale: f32,
}

override D: u32 = 64u;
override BK: u32 = 32u;
override TQ: u32 = 16u;
override NC: u32 = (D + 15u) / 16u;

const NC_MAX: u32 = 8u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<vec4f>;
@group(0) @binding(2) var<storage, read> k: array<vec4f>;
@group(0) @binding(3) var<storage, read> v: array<vec4f>;
@group(0) @binding(4) var<storage, read> dout: array<vec4f>;
@group(0) @binding(5) var<storage, read> stats: array<f32>;
@group(0) @binding(6) var<storage, read> mask: array<u32>;
@group(0) @binding(7) var<storage, read_write> partDk: array<vec4f>;
@group(0) @binding(8) var<storage, read_write> partDv: array<vec4f>;

var<workgroup> qs: array<vec4f, TQ * (D / 4u)>;
var<workgroup> gs: array<vec4f, TQ * (D / 4u)>;
var<workgroup> st: array<vec2f, TQ>;

@compute @workgroup_size(4u * BK)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let d4 = D / 4u;
  let head = wid.y;
  let kvh = head / (p.hq / p.hkv);
  let lane = lid % 4u;
  let j = wid.x * BK + lid / 4u;
  let live = j < p.seq;
  let col0 = min(j, p.seq - 1u);
  let iLo = mask[4u * col0 + 2u];
  let iHi = mask[4u * col0 + 3u];
  let kBase = (col0 * p.hkv + kvh) * d4;

  var kr: array<vec4f, NC_MAX>;
  var vr: array<vec4f, NC_MAX>;
  var dk: array<vec4f, NC_MAX>;
  var dv: array<vec4f, NC_MAX>;
  for (var c = 0u; c < NC; c++) {
    let col = lane + 4u * c;
    let at = kBase + min(col, d4 - 1u);
    kr[c] = select(vec4f(0.0), k[at] * p.scale, col < d4);
    vr[c] = select(vec4f(0.0), v[at], col < d4);
    dk[c] = vec4f(0.0);
    dv[c] = vec4f(0.0);
  }

  let lo = mask[p.blockOffset + 2u * wid.x];
  let hi = mask[p.blockOffset + 2u * wid.x + 1u];
  for (var t0 = lo; t0 < hi; t0 += TQ) {
    workgroupBarrier();
    for (var e = lid; e < TQ * d4; e += 4u * BK) {
      let src = (min(t0 + e / d4, p.seq - 1u) * p.hq + head) * d4 + e % d4;
      qs[e] = q[src];
      gs[e] = dout[src];
    }
    for (var e = lid; e < TQ; e += 4u * BK) {
      let r = min(t0 + e, p.seq - 1u) * p.hq + head;
      st[e] = vec2f(stats[2u * r], stats[2u * r + 1u]);
    }
    workgroupBarrier();
    for (var ii = 0u; ii < TQ; ii++) {
      var sdp = vec2f(0.0);
      for (var c = 0u; c < NC; c++) {
        let col = lane + 4u * c;
        if (col < d4) {
          sdp += vec2f(dot(kr[c], qs[ii * d4 + col]), dot(vr[c], gs[ii * d4 + col]));
        }
      }
      sdp += quadSwapX(sdp);
      sdp += quadSwapY(sdp);
      let i = t0 + ii;
      let ok = live && i >= iLo && i < iHi;
      let pij = select(0.0, exp(sdp.x - st[ii].x), ok);
      let ds = pij * (sdp.y - st[ii].y);
      for (var c = 0u; c < NC; c++) {
        let col = lane + 4u * c;
        if (col < d4) {
          dv[c] += pij * gs[ii * d4 + col];
          dk[c] += ds * qs[ii * d4 + col];
        }
      }
    }
  }

  if (!live) {
    return;
  }
  let out = (j * p.hq + head) * d4;
  for (var c = 0u; c < NC; c++) {
    let col = lane + 4u * c;
    if (col < d4) {
      partDk[out + col] = dk[c] * p.scale;
      partDv[out + col] = dv[c];
    }
  }
}
