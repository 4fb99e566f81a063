// Embedding gather: out[pos, :] = f32(table[id, :]) for every position holding id. Positions come
// grouped by id (CSR: uniq[u] is a table row, positions[offsets[u] .. offsets[u + 1]] hold it), so one
// workgroup reads one table row once and writes it to each of its positions. A dispatch covers the
// ids of one row chunk of the table: `table` is bound from row `row_start`, at element `table_off`.

struct Params {
  dim: u32,
  count: u32,
  u_start: u32,
  row_start: u32,
  table_off: u32,
}

override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> table: array<WT>;
@group(0) @binding(2) var<storage, read> uniq: array<u32>;
@group(0) @binding(3) var<storage, read> offsets: array<u32>;
@group(0) @binding(4) var<storage, read> positions: array<u32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

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
  let src = p.table_off + (uniq[u] - p.row_start) * p.dim;
  let k0 = offsets[u];
  let k1 = offsets[u + 1u];
  for (var d = lid; d < p.dim; d += WG) {
    let v = f32(table[src + d]);
    for (var k = k0; k < k1; k++) {
      out[positions[k] * p.dim + d] = v;
    }
  }
}
