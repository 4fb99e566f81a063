// Elementwise multiply with trailing-dimension broadcast of b. Backward: da = dy * b, db = dy * a summed
// over the rows b is repeated on; each operand is kept only when the other one needs a gradient.
import code from '../../../kernels/elementwise/mul.wgsl?raw';
import { needsGrad, record } from '../autograd.ts';
import type { Gpu } from '../context.ts';
import { defineKernel } from '../kernel.ts';
import type { Tensor } from '../tensor.ts';
import { binary, broadcastGrad } from './binary.ts';

export const mulKernel = defineKernel('elementwise/mul', code);

export function mul(gpu: Gpu, a: Tensor, b: Tensor, out?: Tensor): Tensor {
  const o = binary(gpu, mulKernel, a, b, out);
  const saved = [...(needsGrad(gpu, b) ? [a] : []), ...(needsGrad(gpu, a) ? [b] : [])];
  record(gpu, [a, b], [o], saved, ([dy], needs) => {
    if (!dy) return [];
    const da = needs[0] ? binary(gpu, mulKernel, dy, b) : undefined;
    let db: Tensor | undefined;
    if (needs[1]) {
      if (a.size === b.size) db = binary(gpu, mulKernel, dy, a, gpu.empty(b.shape));
      else {
        const prod = binary(gpu, mulKernel, dy, a);
        db = broadcastGrad(gpu, prod, b);
        prod.dispose();
      }
    }
    return [da, db];
  });
  return o;
}
