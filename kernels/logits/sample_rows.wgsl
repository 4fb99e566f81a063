// Samples one token id per row of logits [rows, cols]: temperature, then top-k, then top-p (nucleus),
// then a draw by inverse CDF over the kept tokens in index order; greedy rows take the argmax (lowest
// index on ties). One workgroup per row. No sort: each filter keeps the tokens whose logit is at or
// above a threshold, found by bisection on the order-preserving u32 key of the f32 logits, where each
// step counts (top-k) or weighs (top-p) the row's tokens above the candidate with a reduction. Ties at
// a threshold are all kept. The uniform comes from a counter-based hash of (seed, step, row), so the
// result does not depend on scheduling.

struct Params {
  rows: u32,
  cols: u32,
  // Index of this dispatch's first row in the whole batch (for the output and the hash).
  row0: u32,
  greedy: u32,
  // Top-k filter when 1 < top_k < cols.
  top_k: u32,
  // Nucleus filter when top_p < 1.
  top_p: f32,
  inv_t: f32,
  seed: u32,
  step: u32,
}

override WG: u32 = 128u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<i32>;

var<workgroup> part: array<vec4f, WG>;
var<workgroup> sel_chunk: u32;
var<workgroup> sel_prefix: f32;

// Monotone map of f32 to u32: a < b as floats iff key(a) < key(b) (with -0 just below +0).
fn key_of(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

fn pcg(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

fn weight(x: f32, m: f32) -> f32 {
  return exp((x - m) * p.inv_t);
}

// Sum over the workgroup; every invocation gets the (uniform) result.
fn reduce_sum(lid: u32, v: vec2f) -> vec2f {
  part[lid] = vec4f(v, 0.0, 0.0);
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      part[lid] += part[lid + s];
    }
    workgroupBarrier();
  }
  let r = workgroupUniformLoad(&part[0]);
  workgroupBarrier();
  return r.xy;
}

// (max, index of its first occurrence, min) over the workgroup.
fn reduce_argmax(lid: u32, v: vec4f) -> vec4f {
  part[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      let a = part[lid];
      let b = part[lid + s];
      var c = a;
      if (b.x > a.x || (b.x == a.x && b.y < a.y)) {
        c = vec4f(b.xy, 0.0, 0.0);
      }
      c.z = min(a.z, b.z);
      part[lid] = c;
    }
    workgroupBarrier();
  }
  let r = workgroupUniformLoad(&part[0]);
  workgroupBarrier();
  return r;
}

// (count, weight) of this invocation's share of the tokens with key >= t.
fn above(lid: u32, base: u32, t: u32, m: f32, with_weight: bool) -> vec2f {
  var c = 0.0;
  var s = 0.0;
  for (var j = lid; j < p.cols; j += WG) {
    let x = logits[base + j];
    if (key_of(x) >= t) {
      c += 1.0;
      if (with_weight) {
        s += weight(x, m);
      }
    }
  }
  return vec2f(c, s);
}

// The largest key t in [lo, hi) with S(t) >= goal, where S(t) is the count (by_weight false) or the
// weight (true) of the tokens with key >= t; S(lo) >= goal > S(hi) on entry, and nlo, nhi are the
// counts at lo and hi. Only the set {key >= t} matters, so the search stops once [lo, hi) holds at
// most one token, or (counting) when exactly `goal` tokens are at or above lo.
fn search(lid: u32, base: u32, m: f32, lo0: u32, hi0: u32, nlo0: u32, by_weight: bool, goal: f32) -> u32 {
  var lo = lo0;
  var hi = hi0;
  var nlo = nlo0;
  var nhi = 0u;
  loop {
    if (nlo - nhi <= 1u || hi - lo <= 1u) {
      break;
    }
    let mid = lo + (hi - lo) / 2u;
    let r = reduce_sum(lid, above(lid, base, mid, m, by_weight));
    let s = select(r.x, r.y, by_weight);
    if (s >= goal) {
      lo = mid;
      nlo = u32(r.x);
      if (!by_weight && s == goal) {
        break;
      }
    } else {
      hi = mid;
      nhi = u32(r.x);
    }
  }
  return lo;
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) {
    return;
  }
  let n = p.cols;
  let base = row * n;

  // Argmax and min; an invocation past the end of the row starts from the row's last token, which is
  // harmless.
  let j0 = min(lid, n - 1u);
  var best = vec4f(logits[base + j0], f32(j0), logits[base + j0], 0.0);
  for (var j = lid; j < n; j += WG) {
    let x = logits[base + j];
    if (x > best.x) {
      best = vec4f(x, f32(j), best.z, 0.0);
    }
    best.z = min(best.z, x);
  }
  let am = reduce_argmax(lid, best);
  if (p.greedy != 0u) {
    if (lid == 0u) {
      out[p.row0 + row] = i32(am.y);
    }
    return;
  }
  let m = am.x;
  let top = key_of(m) + 1u;

  var lo = key_of(am.z);
  if (p.top_k > 1u && p.top_k < n) {
    lo = search(lid, base, m, lo, top, n, false, f32(p.top_k));
  }
  if (p.top_p < 1.0) {
    let kept = reduce_sum(lid, above(lid, base, lo, m, true));
    lo = search(lid, base, m, lo, top, u32(kept.x), true, p.top_p * kept.y);
  }

  // Inverse CDF: each invocation weighs a contiguous chunk, invocation 0 finds the chunk holding the
  // draw, and that chunk's invocation finds the token. Rounding can leave the draw just past the last
  // kept token; it then takes that token, never one outside the kept set.
  let chunk = (n + WG - 1u) / WG;
  let c0 = min(lid * chunk, n);
  let c1 = min(c0 + chunk, n);
  var s = 0.0;
  for (var j = c0; j < c1; j++) {
    let x = logits[base + j];
    if (key_of(x) >= lo) {
      s += weight(x, m);
    }
  }
  part[lid] = vec4f(s, 0.0, 0.0, 0.0);
  workgroupBarrier();
  if (lid == 0u) {
    var total = 0.0;
    for (var i = 0u; i < WG; i++) {
      total += part[i].x;
    }
    let h = pcg(pcg(pcg(p.seed) ^ p.step) ^ (p.row0 + row));
    let r = f32(h >> 8u) * (1.0 / 16777216.0) * total;
    var acc = 0.0;
    var chosen = 0u;
    var prefix = 0.0;
    for (var i = 0u; i < WG; i++) {
      let w = part[i].x;
      if (w > 0.0) {
        chosen = i;
        prefix = acc;
        if (r < acc + w) {
          break;
        }
        acc += w;
      }
    }
    sel_chunk = chosen;
    sel_prefix = prefix;
    part[0].y = r;
  }
  workgroupBarrier();
  if (lid == sel_chunk) {
    let r = part[0].y;
    var acc = sel_prefix;
    var last = c0;
    for (var j = c0; j < c1; j++) {
      let x = logits[base + j];
      if (key_of(x) >= lo) {
        let w = weight(x, m);
        if (w > 0.0) {
          last = j;
          acc += w;
          if (r < acc) {
            break;
          }
        }
      }
    }
    out[p.row0 + row] = i32(last);
  }
}
