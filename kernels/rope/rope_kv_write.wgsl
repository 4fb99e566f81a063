// One decode step's RoPE and KV-cache write in one dispatch: rotates q [rows, qHeads, 2 half] and
// k [rows, kvHeads, 2 half] as rope_forward.wgsl does (table row r: [cos x half, sin x half]), writes
// the rotated q to qOut, and the rotated k and the unchanged v [rows, kvHeads, 2 half] into the caches
// [rows, maxLen, kvHeads, 2 half] at row r's position at[r]. One invocation per (row, pair).

struct Params {
  rows: u32,
  q_heads: u32,
  kv_heads: u32,
  half: u32,
  max_len: u32,
}

override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> table: array<f32>;
@group(0) @binding(2) var<storage, read> q: array<f32>;
@group(0) @binding(3) var<storage, read> k: array<f32>;
@group(0) @binding(4) var<storage, read> v: array<f32>;
@group(0) @binding(5) var<storage, read> at: array<u32>;
@group(0) @binding(6) var<storage, read_write> q_out: array<f32>;
@group(0) @binding(7) var<storage, read_write> k_cache: array<f32>;
@group(0) @binding(8) var<storage, read_write> v_cache: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let id = gid.x + gid.y * nwg.x * WG;
  if (id >= p.rows * p.half) {
    return;
  }
  let r = id / p.half;
  let i = id % p.half;
  let c = table[r * 2u * p.half + i];
  let s = table[r * 2u * p.half + p.half + i];
  let d = 2u * p.half;
  for (var h = 0u; h < p.q_heads; h++) {
    let at_q = (r * p.q_heads + h) * d + i;
    let a = q[at_q];
    let b = q[at_q + p.half];
    q_out[at_q] = a * c - b * s;
    q_out[at_q + p.half] = b * c + a * s;
  }
  let width = p.kv_heads * d;
  let cached = (r * p.max_len + at[r]) * width;
  for (var h = 0u; h < p.kv_heads; h++) {
    let src = r * width + h * d + i;
    let dst = cached + h * d + i;
    let a = k[src];
    let b = k[src + p.half];
    k_cache[dst] = a * c - b * s;
    k_cache[dst + p.half] = b * c + a * s;
    v_cache[dst] = v[src];
    v_cache[dst + p.half] = v[src + p.half];
  }
}
