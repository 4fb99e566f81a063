// Elementwise add with trailing-dimension broadcast of b (residual adds, bias adds). Backward: da = dy,
// db = dy summed over the rows b is repeated on.
import code from '../../../kernels/elementwise/add.wgsl?raw';
import { record } from '../autograd.ts';
import type { Gpu } from '../context.ts';
import { defineKernel } from '../kernel.ts';
import type { Tensor } from '../tensor.ts';
import { binary, broadcastGrad } from './binary.ts';
import { scale } from './scale.ts';

export const addKernel = defineKernel('elementwise/add', code);

export function add(gpu: Gpu, a: Tensor, b: Tensor, out?: Tensor): Tensor {
  const o = binary(gpu, addKernel, a, b, out);
  record(gpu, [a, b], [o], [], ([dy], needs) => {
    if (!dy) return [];
    // Gradients are accumulated in place later, so each input gets its own copy rather than dy itself.
    return [needs[0] ? scale(gpu, dy, 1) : undefined, needs[1] ? broadcastGrad(gpu, dy, b) : undefined];
  });
  return o;
}
