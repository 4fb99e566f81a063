// Embedding rows for token ids that live on the GPU (a decode step feeding the ids it just sampled):
// out[i, :] = f32(table[ids[i], :]) for the ids inside one row chunk of the table, which is bound from
// row `row_start` at element `table_off`; ids outside the chunk are left to another dispatch. One
// workgroup per id and block of WG columns.

struct Params {
  dim: u32,
  count: u32,
  row_start: u32,
  rows: u32,
  table_off: u32,
}

override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> table: array<WT>;
@group(0) @binding(2) var<storage, read> ids: array<i32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = wid.y;
  let d = wid.x * WG + lid;
  if (i >= p.count || d >= p.dim) {
    return;
  }
  let row = u32(ids[i]) - p.row_start;
  if (ids[i] < 0 || row >= p.rows) {
    return;
  }
  out[i * p.dim + d] = f32(table[p.table_off + row * p.dim + d]);
}
