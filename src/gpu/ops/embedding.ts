// Embedding lookup: out[s, :] = table[ids[s], :] for a [V, D] table (f32 or f16) and host token ids,
// out [S, D] f32. Positions are grouped by id on the host (sorted unique ids + CSR position lists), so
// the backward sums each id's dY rows in one workgroup, deterministically, into a [V, D] gradient that
// is zero outside the touched rows. Tables over the storage-binding limit are processed in row chunks.
// embeddingRows looks up ids that are already on the GPU (no gradient), as a decode step does with the
// tokens it has just sampled.
import backwardCode from '../../../kernels/embedding/embedding_backward.wgsl?raw';
import forwardCode from '../../../kernels/embedding/embedding_forward.wgsl?raw';
import gatherCode from '../../../kernels/embedding/embedding_gather.wgsl?raw';
import { record } from '../autograd.ts';
import type { Gpu } from '../context.ts';
import { ShapeError } from '../errors.ts';
import { defineKernel } from '../kernel.ts';
import { Params } from '../params.ts';
import type { Tensor } from '../tensor.ts';
import { type RowChunk, rowChunks } from './row-chunks.ts';

export const embeddingForwardKernel = defineKernel('embedding/embedding_forward', forwardCode);
export const embeddingBackwardKernel = defineKernel('embedding/embedding_backward', backwardCode);
export const embeddingGatherKernel = defineKernel('embedding/embedding_gather', gatherCode);

const WG = 64;

/** Positions grouped by token id: uniq ascending; positions[offsets[u] .. offsets[u + 1]] hold uniq[u]. */
export interface IdGroups {
  uniq: Uint32Array;
  offsets: Uint32Array;
  positions: Uint32Array;
}

export function groupIds(ids: ArrayLike<number>, vocab: number): IdGroups {
  const n = ids.length;
  for (let i = 0; i < n; i++) {
    const id = ids[i]!;
    if (!Number.isInteger(id) || id < 0 || id >= vocab)
      throw new ShapeError(`embedding: id ${id} at position ${i} is outside the vocabulary [0, ${vocab})`);
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => ids[a]! - ids[b]! || a - b);
  const uniq: number[] = [];
  const offsets: number[] = [];
  order.forEach((pos, k) => {
    if (k === 0 || ids[pos] !== ids[order[k - 1]!]) {
      uniq.push(ids[pos]!);
      offsets.push(k);
    }
  });
  offsets.push(n);
  return {
    uniq: Uint32Array.from(uniq),
    offsets: Uint32Array.from(offsets),
    positions: Uint32Array.from(order),
  };
}

export function embedding(gpu: Gpu, table: Tensor, ids: Int32Array | readonly number[]): Tensor {
  if (table.shape.length !== 2) throw new ShapeError(`embedding: table must be [V, D], got [${table.shape}]`);
  if (table.dtype !== 'f32' && table.dtype !== 'f16')
    throw new ShapeError(`embedding: table must be f32 or f16, got ${table.dtype}`);
  const [vocab, dim] = table.shape as [number, number];
  const groups = groupIds(ids, vocab);
  const out = gpu.empty([ids.length, dim]);
  if (ids.length === 0 || dim === 0) return out;
  const uniq = gpu.tensor(groups.uniq, [groups.uniq.length], 'u32');
  const offsets = gpu.tensor(groups.offsets, [groups.offsets.length], 'u32');
  const positions = gpu.tensor(groups.positions, [groups.positions.length], 'u32');
  const variant = { f16: table.dtype === 'f16', overrides: { WG } };
  for (const [chunk, u0, count] of idsPerChunk(rowChunks(gpu, table, vocab, dim, 'embedding'), groups.uniq)) {
    gpu.dispatch({
      kernel: embeddingForwardKernel,
      variant,
      params: new Params().u32(dim).u32(count).u32(u0).u32(chunk.row).u32(chunk.elem).bytes(),
      bindings: [
        { tensor: chunk.tensor, offset: chunk.offset, size: chunk.size },
        uniq,
        offsets,
        positions,
        out,
      ],
      workgroups: gpu.grid(count),
    });
  }
  record(gpu, [table], [out], [uniq, offsets, positions], ([dy], needs) => {
    if (!dy || !needs[0]) return [];
    if (table.dtype !== 'f32')
      throw new ShapeError('embedding: an f16 table cannot be trained; keep it frozen');
    const grad = gpu.zeros([vocab, dim]);
    for (const [chunk, u0, count] of idsPerChunk(
      rowChunks(gpu, grad, vocab, dim, 'embedding'),
      groups.uniq,
    )) {
      gpu.dispatch({
        kernel: embeddingBackwardKernel,
        variant: { overrides: { WG } },
        params: new Params().u32(dim).u32(count).u32(u0).u32(chunk.row).u32(chunk.elem).bytes(),
        bindings: [
          dy,
          uniq,
          offsets,
          positions,
          { tensor: chunk.tensor, offset: chunk.offset, size: chunk.size },
        ],
        workgroups: gpu.grid(count),
      });
    }
    return [grad];
  });
  for (const t of [uniq, offsets, positions]) t.dispose();
  return out;
}

/**
 * out[i, :] = table[ids[i], :] for i32 ids [N] on the GPU, out [N, D] f32; not recorded for autograd.
 * An id outside [0, V) leaves its row zero.
 */
export function embeddingRows(gpu: Gpu, table: Tensor, ids: Tensor): Tensor {
  if (table.shape.length !== 2) throw new ShapeError(`embedding: table must be [V, D], got [${table.shape}]`);
  if (table.dtype !== 'f32' && table.dtype !== 'f16')
    throw new ShapeError(`embedding: table must be f32 or f16, got ${table.dtype}`);
  if (ids.dtype !== 'i32' || ids.shape.length !== 1)
    throw new ShapeError(`embedding: ids must be i32 [N], got ${ids.dtype} [${ids.shape}]`);
  const [vocab, dim] = table.shape as [number, number];
  const n = ids.shape[0]!;
  const out = gpu.zeros([n, dim]);
  if (n === 0 || dim === 0) return out;
  for (const chunk of rowChunks(gpu, table, vocab, dim, 'embedding'))
    gpu.dispatch({
      kernel: embeddingGatherKernel,
      variant: { f16: table.dtype === 'f16', overrides: { WG } },
      params: new Params().u32(dim).u32(n).u32(chunk.row).u32(chunk.rows).u32(chunk.elem).bytes(),
      bindings: [{ tensor: chunk.tensor, offset: chunk.offset, size: chunk.size }, ids, out],
      workgroups: [Math.ceil(dim / WG), n],
    });
  return out;
}

/** For each row chunk holding any id: the chunk, its first index into uniq and how many ids it holds. */
function idsPerChunk(chunks: RowChunk[], uniq: Uint32Array): [RowChunk, number, number][] {
  const out: [RowChunk, number, number][] = [];
  let u = 0;
  for (const chunk of chunks) {
    const start = u;
    while (u < uniq.length && uniq[u]! < chunk.row + chunk.rows) u++;
    if (u > start) out.push([chunk, start, u - start]);
  }
  return out;
}
