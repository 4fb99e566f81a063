// Backward of the rotate-half rotary embedding: the rotation by the negative angle,
// (ga, gb) -> (ga cos + gb sin, gb cos - ga sin), with cos/sin from table row r ([cos x half, sin x half]).
// One invocation per (row, pair) loops over the heads. Source and destination rows have their own
// stride and offset, so the gradient lands in the head slice of a packed input.

struct Params {
  rows: u32,
  heads: u32,
  half: u32,
  src_stride: u32,
  src_offset: u32,
  dst_stride: u32,
  dst_offset: u32,
}

override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> table: array<f32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

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
  for (var h = 0u; h < p.heads; h++) {
    let si = r * p.src_stride + p.src_offset + h * d + i;
    let di = r * p.dst_stride + p.dst_offset + h * d + i;
    let ga = src[si];
    let gb = src[si + p.half];
    dst[di] = ga * c + gb * s;
    dst[di + p.half] = gb * c - ga * s;
  }
}
