// Row reductions of the last dimension: sum, mean, max, sum of squares. [..., cols] -> [...].
import code from '../../../kernels/layout/reduce_rows.wgsl?raw';
import type { Gpu } from '../context.ts';
import { ShapeError } from '../errors.ts';
import { defineKernel } from '../kernel.ts';
import { Params } from '../params.ts';
import type { Tensor } from '../tensor.ts';

export const reduceRowsKernel = defineKernel('layout/reduce_rows', code);

export type Reduction = 'sum' | 'mean' | 'max' | 'sumsq';

const OP: Record<Reduction, number> = { sum: 0, mean: 0, max: 1, sumsq: 2 };
const WG = 128;

export function reduceRows(gpu: Gpu, x: Tensor, op: Reduction): Tensor {
  if (x.dtype !== 'f32') throw new ShapeError('reduceRows: f32 only');
  if (x.shape.length === 0) throw new ShapeError('reduceRows: needs at least one dimension');
  const cols = x.shape[x.shape.length - 1]!;
  if (cols === 0) throw new ShapeError('reduceRows: rows are empty');
  const rows = x.size / cols;
  const out = gpu.empty(x.shape.slice(0, -1));
  gpu.dispatch({
    kernel: reduceRowsKernel,
    variant: { overrides: { OP: OP[op], WG } },
    params: new Params()
      .u32(rows)
      .u32(cols)
      .f32(op === 'mean' ? 1 / cols : 1)
      .bytes(),
    bindings: [x, out],
    workgroups: gpu.grid(rows),
  });
  return out;
}
