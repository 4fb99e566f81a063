// Layout ops: reshape (a view, no copy), permute, slice and concat (strided copies), each with its
// backward rule. Tensors of rank up to 4, f32.
import code from '../../../kernels/layout/strided_copy.wgsl?raw';
import { record } from '../autograd.ts';
import type { Gpu } from '../context.ts';
import { ShapeError } from '../errors.ts';
import { defineKernel } from '../kernel.ts';
import { Params } from '../params.ts';
import { numel, type Tensor } from '../tensor.ts';

export const stridedCopyKernel = defineKernel('layout/strided_copy', code);

const WG = 256;

export interface StridedView {
  shape: readonly number[];
  strides: readonly number[];
  offset: number;
}

export function denseStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1]! * shape[i + 1]!;
  return s;
}

/** Records out-view (+)= in-view over `shape`. */
export function stridedCopy(
  gpu: Gpu,
  x: Tensor,
  from: StridedView,
  out: Tensor,
  to: StridedView,
  accumulate = false,
): void {
  if (from.shape.length > 4) throw new ShapeError(`strided copy: rank ${from.shape.length} > 4`);
  const pad = 4 - from.shape.length;
  const shape = [...new Array<number>(pad).fill(1), ...from.shape];
  const si = [...new Array<number>(pad).fill(0), ...from.strides];
  const so = [...new Array<number>(pad).fill(0), ...to.strides];
  const n = numel(shape);
  if (n === 0) return;
  const params = new Params()
    .u32(n)
    .u32(from.offset)
    .u32(to.offset)
    .u32(shape[1]!)
    .u32(shape[2]!)
    .u32(shape[3]!);
  for (const s of si) params.u32(s);
  for (const s of so) params.u32(s);
  gpu.dispatch({
    kernel: stridedCopyKernel,
    variant: { overrides: { WG, ACCUMULATE: accumulate } },
    params: params.bytes(),
    bindings: [x, out],
    workgroups: gpu.grid(Math.ceil(n / WG)),
  });
}

function dense(shape: readonly number[], offset = 0): StridedView {
  return { shape, strides: denseStrides(shape), offset };
}

/** The same data under another shape; no copy. Gradients flow back reshaped. */
export function reshape(gpu: Gpu, x: Tensor, shape: readonly number[]): Tensor {
  const resolved = resolveShape(shape, x.size);
  const y = gpu.view(x, resolved);
  record(gpu, [x], [y], [], ([dy]) => [dy ? gpu.view(dy, x.shape) : undefined]);
  return y;
}

function resolveShape(shape: readonly number[], size: number): number[] {
  const unknown = shape.indexOf(-1);
  const known = shape.reduce((a, d) => (d === -1 ? a : a * d), 1);
  const out = [...shape];
  if (unknown >= 0) out[unknown] = known === 0 ? 0 : size / known;
  if (numel(out) !== size) throw new ShapeError(`reshape: [${shape}] does not hold ${size} elements`);
  return out;
}

/** Reorders dimensions: out.shape[i] = x.shape[perm[i]]. */
export function permute(gpu: Gpu, x: Tensor, perm: readonly number[]): Tensor {
  if (perm.length !== x.shape.length || [...perm].sort().some((p, i) => p !== i)) {
    throw new ShapeError(`permute: [${perm}] is not a permutation of ${x.shape.length} dimensions`);
  }
  const inStrides = denseStrides(x.shape);
  const shape = perm.map((p) => x.shape[p]!);
  const y = gpu.empty(shape);
  stridedCopy(gpu, x, { shape, strides: perm.map((p) => inStrides[p]!), offset: 0 }, y, dense(shape));
  record(gpu, [x], [y], [], ([dy]) => {
    if (!dy) return [];
    const inverse = perm.map((_, i) => perm.indexOf(i));
    return [permute(gpu, dy, inverse)];
  });
  return y;
}

/** x[..., start:end, ...] along `axis`. */
export function slice(gpu: Gpu, x: Tensor, axis: number, start: number, end: number): Tensor {
  const ax = axis < 0 ? x.shape.length + axis : axis;
  const len = x.shape[ax];
  if (len === undefined || start < 0 || end > len || start > end) {
    throw new ShapeError(`slice: [${start}, ${end}) is outside axis ${axis} of [${x.shape}]`);
  }
  const shape = x.shape.map((d, i) => (i === ax ? end - start : d));
  const strides = denseStrides(x.shape);
  const y = gpu.empty(shape);
  stridedCopy(gpu, x, { shape, strides, offset: start * strides[ax]! }, y, dense(shape));
  record(gpu, [x], [y], [], ([dy]) => {
    if (!dy) return [];
    const dx = gpu.zeros(x.shape);
    stridedCopy(gpu, dy, dense(shape), dx, { shape, strides, offset: start * strides[ax]! });
    return [dx];
  });
  return y;
}

/** Joins tensors along `axis`; all other dimensions must agree. */
export function concat(gpu: Gpu, xs: readonly Tensor[], axis: number): Tensor {
  const first = xs[0];
  if (!first) throw new ShapeError('concat: no tensors');
  const ax = axis < 0 ? first.shape.length + axis : axis;
  for (const x of xs) {
    if (x.shape.length !== first.shape.length || x.shape.some((d, i) => i !== ax && d !== first.shape[i])) {
      throw new ShapeError(`concat: [${x.shape}] does not match [${first.shape}] outside axis ${axis}`);
    }
  }
  const shape = first.shape.map((d, i) => (i === ax ? xs.reduce((a, x) => a + x.shape[ax]!, 0) : d));
  const strides = denseStrides(shape);
  const y = gpu.empty(shape);
  const offsets: number[] = [];
  let at = 0;
  for (const x of xs) {
    offsets.push(at * strides[ax]!);
    stridedCopy(gpu, x, dense(x.shape), y, { shape: x.shape, strides, offset: at * strides[ax]! });
    at += x.shape[ax]!;
  }
  record(gpu, [...xs], [y], [], ([dy], needs) => {
    if (!dy) return [];
    return xs.map((x, i) => {
      if (!needs[i]) return undefined;
      const dx = gpu.empty(x.shape);
      stridedCopy(gpu, dy, { shape: x.shape, strides, offset: offsets[i]! }, dx, dense(x.shape));
      return dx;
    });
  });
  return y;
}
