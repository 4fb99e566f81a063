// y += alpha * x, in place (gradient accumulation, optimiser updates).
import code from '../../../kernels/optim/axpy.wgsl?raw';
import type { Gpu } from '../context.ts';
import { ShapeError } from '../errors.ts';
import { defineKernel } from '../kernel.ts';
import { Params } from '../params.ts';
import type { Tensor } from '../tensor.ts';

export const axpyKernel = defineKernel('optim/axpy', code);

export function axpy(gpu: Gpu, y: Tensor, x: Tensor, alpha: number): Tensor {
  if (x.dtype !== 'f32' || y.dtype !== 'f32') throw new ShapeError('axpy: f32 only');
  if (x.size !== y.size) throw new ShapeError(`axpy: x has ${x.size} elements, y has ${y.size}`);
  gpu.dispatch({
    kernel: axpyKernel,
    params: new Params().u32(y.size).f32(alpha).bytes(),
    bindings: [x, y],
    workgroups: gpu.grid(Math.ceil(y.size / 256)),
  });
  return y;
}
