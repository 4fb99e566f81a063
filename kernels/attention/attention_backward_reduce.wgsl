// Attention backward, last step of the quad path: dk and dv per key and kv head as the sums of the
// shares attention_backward_dkdv_quad.wgsl wrote per query head ([S, Hq, D], the query heads of kv head
// h being h * ratio .. h * ratio + ratio - 1). One invocation per vec4.

struct Params {
  count: u32,
  ratio: u32,
}

override D: u32 = 64u;
override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> partDk: array<vec4f>;
@group(0) @binding(2) var<storage, read> partDv: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> dk: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> dv: array<vec4f>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let e = gid.x + gid.y * nwg.x * WG;
  if (e >= p.count) {
    return;
  }
  let d4 = D / 4u;
  // e indexes [S * Hkv, D / 4]; its shares start at query head (e / d4 % Hkv) * ratio of the same key.
  let first = (e / d4) * p.ratio * d4 + e % d4;
  var sk = vec4f(0.0);
  var sv = vec4f(0.0);
  for (var h = 0u; h < p.ratio; h++) {
    sk += partDk[first + h * d4];
    sv += partDv[first + h * d4];
  }
  dk[e] = sk;
  dv[e] = sv;
}
