// Embedding backward: dtable[id, :] = sum of dy[pos, :] over the positions holding id. Deterministic
// without float atomics: positions come grouped by id (CSR as in embedding_forward.wgsl) and one
// workgroup sums the rows of one id in position order. A dispatch covers the ids of one row chunk of
// dtable, bound from row `row_start` at element `grad_off`; rows no id touches are left as they are.

struct Params {
  dim: u32,
  count: u32,
  u_start: u32,
  row_start: u32,
  grad_off: u32,
}

override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> uniq: array<u32>;
@group(0) @binding(3) var<storage, read> offsets: array<u32>;
@group(0) @binding(4) var<storage, read> positions: array<u32>;
@group(0) @binding(5) var<storage, read_write> dtable: array<f32>;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let i = wid.x + wid.y * nwg.x;
  if (i >= p.count) {
    return;
  }
  let u = p.u_start + i;
  let dst = p.grad_off + (uniq[u] - p.row_start) * p.dim;
  let k0 = offsets[u];
  let k1 = offsets[u + 1u];
  for (var d = lid; d < p.dim; d += WG) {
    var acc = 0.0;
    for (var k = k0; k < k1; k++) {
      acc += dy[positions[k] * p.dim + d];
    }
    dtable[dst + d] = acc;
  }
}
