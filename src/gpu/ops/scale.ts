// out = alpha * a. Backward: da = alpha * dy.
import code from '../../../kernels/elementwise/scale.wgsl?raw';
import { record } from '../autograd.ts';
import type { Gpu } from '../context.ts';
import { ShapeError } from '../errors.ts';
import { defineKernel } from '../kernel.ts';
import { Params } from '../params.ts';
import type { Tensor } from '../tensor.ts';

export const scaleKernel = defineKernel('elementwise/scale', code);

export function scale(gpu: Gpu, a: Tensor, alpha: number, out?: Tensor): Tensor {
  if (a.dtype !== 'f32') throw new ShapeError('scale: f32 only');
  if (out && out.size !== a.size)
    throw new ShapeError(`scale: out has ${out.size} elements, expected ${a.size}`);
  const o = out ?? gpu.empty(a.shape);
  gpu.dispatch({
    kernel: scaleKernel,
    params: new Params().u32(a.size).f32(alpha).bytes(),
    bindings: [a, o],
    workgroups: gpu.grid(Math.ceil(a.size / 256)),
  });
  record(gpu, [a], [o], [], ([dy]) => {
    if (!dy) return [];
    return [scale(gpu, dy, alpha)];
  });
  return o;
}
