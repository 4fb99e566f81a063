// Strided copy of a rank-4 view: for every index (i0, i1, i2, i3) < shape,
// out[offOut + sum(i * outStride)] (+)= x[offIn + sum(i * inStride)]. Transposes, slices and
// concatenations are views expressed by their strides and offsets. ACCUMULATE adds instead of storing.

struct Params {
  n: u32,
  offIn: u32,
  offOut: u32,
  s1: u32,
  s2: u32,
  s3: u32,
  in0: u32,
  in1: u32,
  in2: u32,
  in3: u32,
  out0: u32,
  out1: u32,
  out2: u32,
  out3: u32,
}

override WG: u32 = 256u;
override ACCUMULATE: bool = false;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) {
    return;
  }
  let i3 = i % p.s3;
  let r2 = i / p.s3;
  let i2 = r2 % p.s2;
  let r1 = r2 / p.s2;
  let i1 = r1 % p.s1;
  let i0 = r1 / p.s1;
  let src = p.offIn + i0 * p.in0 + i1 * p.in1 + i2 * p.in2 + i3 * p.in3;
  let dst = p.offOut + i0 * p.out0 + i1 * p.out1 + i2 * p.out2 + i3 * p.out3;
  if (ACCUMULATE) {
    out[dst] += x[src];
  } else {
    out[dst] = x[src];
  }
}
