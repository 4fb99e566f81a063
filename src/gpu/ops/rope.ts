// Rotary position embedding (rotate-half layout) on [rows, heads, headDim] activations, for 1D RoPE,
// M-RoPE and the vision 2D RoPE alike: the variant only changes the angle table (src/gpu/rope-angles.ts).
// The input may also be a head slice of a packed row (q or k inside fused qkv): the output is then the
// rotated slice, contiguous, and the gradient flows back into that slice only. Backward is the rotation
// by the negative angle. ropeIntoCache is a decode step's RoPE of q and k fused with its KV-cache write.
import backwardCode from '../../../kernels/rope/rope_backward.wgsl?raw';
import forwardCode from '../../../kernels/rope/rope_forward.wgsl?raw';
import kvWriteCode from '../../../kernels/rope/rope_kv_write.wgsl?raw';
import { record } from '../autograd.ts';
import type { Gpu } from '../context.ts';
import { ShapeError } from '../errors.ts';
import { defineKernel } from '../kernel.ts';
import { Params } from '../params.ts';
import { ropeCosSin } from '../rope-angles.ts';
import type { Tensor } from '../tensor.ts';

export const ropeForwardKernel = defineKernel('rope/rope_forward', forwardCode);
export const ropeBackwardKernel = defineKernel('rope/rope_backward', backwardCode);
export const ropeKvWriteKernel = defineKernel('rope/rope_kv_write', kvWriteCode);

const WG = 64;

/** Where the heads to rotate sit in each row of a packed input (the last dimension of x). */
export interface RopeSlice {
  heads: number;
  headDim: number;
  /** Elements from the start of a row to the first head (default 0). */
  offset?: number;
}

/** Uploads angles [S, headDim/2] (from rope-angles.ts) as the [S, headDim] cos|sin table applyRope reads. */
export function ropeTable(gpu: Gpu, angles: ArrayLike<number>, headDim: number): Tensor {
  if (!Number.isInteger(headDim) || headDim <= 0 || headDim % 2 !== 0)
    throw new ShapeError(`ropeTable: headDim must be even, got ${headDim}`);
  const half = headDim / 2;
  return gpu.tensor(ropeCosSin(angles, half), [angles.length / half, headDim]);
}

/**
 * Rotates x by the angles of `table` ([rows, headDim], from ropeTable), one table row per row of x.
 * Without `slice`, x is [..., heads, headDim] and the result has its shape. With `slice`, x is
 * [..., width] and the result is [..., slice.heads, slice.headDim], read from columns
 * offset .. offset + heads * headDim of each row.
 */
export function applyRope(gpu: Gpu, x: Tensor, table: Tensor, slice?: RopeSlice): Tensor {
  if (x.dtype !== 'f32' || table.dtype !== 'f32') throw new ShapeError('applyRope: f32 only');
  let heads: number;
  let headDim: number;
  let offset = 0;
  let lead: number[];
  if (slice) {
    if (x.shape.length < 1) throw new ShapeError('applyRope: x needs a row dimension');
    ({ heads, headDim } = slice);
    offset = slice.offset ?? 0;
    lead = x.shape.slice(0, -1);
  } else {
    if (x.shape.length < 2)
      throw new ShapeError(`applyRope: x must be [..., heads, headDim], got [${x.shape}]`);
    heads = x.shape.at(-2)!;
    headDim = x.shape.at(-1)!;
    lead = x.shape.slice(0, -2);
  }
  if (!Number.isInteger(headDim) || headDim <= 0 || headDim % 2 !== 0)
    throw new ShapeError(`applyRope: headDim must be even and positive, got ${headDim}`);
  if (!Number.isInteger(heads) || heads <= 0)
    throw new ShapeError(`applyRope: heads must be positive, got ${heads}`);
  const width = slice ? x.shape.at(-1)! : heads * headDim;
  if (!Number.isInteger(offset) || offset < 0 || offset + heads * headDim > width)
    throw new ShapeError(
      `applyRope: ${heads} heads of ${headDim} at offset ${offset} do not fit in rows of ${width} (x [${x.shape}])`,
    );
  const rows = width === 0 ? 0 : x.size / width;
  if (table.shape.length !== 2 || table.shape[0] !== rows || table.shape[1] !== headDim)
    throw new ShapeError(
      `applyRope: table must be [${rows}, ${headDim}] (rows of x, headDim), got [${table.shape}]`,
    );

  const half = headDim / 2;
  const run = (
    kernel: typeof ropeForwardKernel,
    src: Tensor,
    dst: Tensor,
    srcStride: number,
    srcOffset: number,
    dstStride: number,
    dstOffset: number,
  ) =>
    gpu.dispatch({
      kernel,
      variant: { overrides: { WG } },
      params: new Params()
        .u32(rows)
        .u32(heads)
        .u32(half)
        .u32(srcStride)
        .u32(srcOffset)
        .u32(dstStride)
        .u32(dstOffset)
        .bytes(),
      bindings: [table, src, dst],
      workgroups: gpu.grid(Math.ceil((rows * half) / WG)),
    });

  const packed = heads * headDim;
  const y = gpu.empty([...lead, heads, headDim]);
  run(ropeForwardKernel, x, y, width, offset, packed, 0);
  record(gpu, [x], [y], [table], ([dy], needs) => {
    if (!dy || !needs[0]) return [];
    const dx = width === packed ? gpu.empty(x.shape) : gpu.zeros(x.shape);
    run(ropeBackwardKernel, dy, dx, packed, 0, width, offset);
    return [dx];
  });
  return y;
}

/** The shapes of ropeIntoCache's operands, checked; `op` names the caller in errors. */
export function checkRopeIntoCache(
  op: string,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  table: Tensor,
  caches: { keys: Tensor; values: Tensor },
  at: ArrayLike<number>,
) {
  const [rows, qHeads, headDim] = q.shape as [number, number, number];
  const [maxLen, kvHeads] = [caches.keys.shape[1]!, caches.keys.shape[2]!];
  const kv = [rows, kvHeads, headDim];
  const cache = [rows, maxLen, kvHeads, headDim];
  for (const [name, t, shape] of [
    ['k', k, kv],
    ['v', v, kv],
    ['table', table, [rows, headDim]],
    ['the key cache', caches.keys, cache],
    ['the value cache', caches.values, cache],
  ] as const) {
    if (t.dtype !== 'f32' || t.shape.join() !== shape.join())
      throw new ShapeError(`${op}: ${name} must be f32 [${shape}], got ${t.dtype} [${t.shape}]`);
  }
  if (q.dtype !== 'f32' || q.shape.length !== 3 || headDim % 2 !== 0)
    throw new ShapeError(`${op}: q must be f32 [rows, heads, even headDim], got [${q.shape}]`);
  if (at.length !== rows || Array.from(at).some((n) => !(Number.isInteger(n) && n >= 0 && n < maxLen)))
    throw new ShapeError(`${op}: ${rows} positions in [0, ${maxLen}) needed, got [${Array.from(at)}]`);
  return { rows, qHeads, kvHeads, headDim, maxLen };
}

/**
 * One decode step's RoPE and cache write (no gradient): q [rows, qHeads, D] and k, v [rows, kvHeads, D]
 * with table [rows, D] (ropeTable); writes the rotated k and v into kCache and vCache
 * [rows, maxLen, kvHeads, D] at position at[r] of row r and returns the rotated q.
 */
export function ropeIntoCache(
  gpu: Gpu,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  table: Tensor,
  caches: { keys: Tensor; values: Tensor },
  at: ArrayLike<number>,
): Tensor {
  const { rows, qHeads, kvHeads, headDim, maxLen } = checkRopeIntoCache(
    'ropeIntoCache',
    q,
    k,
    v,
    table,
    caches,
    at,
  );
  const half = headDim / 2;
  const out = gpu.empty(q.shape);
  const positions = gpu.tensor(Uint32Array.from(at), [rows], 'u32');
  gpu.dispatch({
    kernel: ropeKvWriteKernel,
    variant: { overrides: { WG } },
    params: new Params().u32(rows).u32(qHeads).u32(kvHeads).u32(half).u32(maxLen).bytes(),
    bindings: [table, q, k, v, positions, out, caches.keys, caches.values],
    workgroups: gpu.grid(Math.ceil((rows * half) / WG)),
  });
  positions.dispose();
  return out;
}
