// Softmax over the last dimension, [..., cols] -> [..., cols], with backward dx = y * (dy - sum(dy * y)).
import backwardCode from '../../../kernels/logits/softmax_backward.wgsl?raw';
import forwardCode from '../../../kernels/logits/softmax_forward.wgsl?raw';
import { record } from '../autograd.ts';
import type { Gpu } from '../context.ts';
import { ShapeError } from '../errors.ts';
import { defineKernel } from '../kernel.ts';
import { Params } from '../params.ts';
import type { Tensor } from '../tensor.ts';

export const softmaxForwardKernel = defineKernel('logits/softmax_forward', forwardCode);
export const softmaxBackwardKernel = defineKernel('logits/softmax_backward', backwardCode);

/** Short rows get a small workgroup: idle invocations still pay for every barrier. */
function workgroupSize(cols: number): number {
  return cols <= 256 ? 32 : 128;
}

export function softmax(gpu: Gpu, x: Tensor): Tensor {
  if (x.dtype !== 'f32') throw new ShapeError(`softmax: f32 only, got ${x.dtype}`);
  if (x.shape.length === 0) throw new ShapeError('softmax: needs at least one dimension');
  const cols = x.shape[x.shape.length - 1]!;
  if (cols === 0) throw new ShapeError(`softmax: rows of [${x.shape}] are empty`);
  const rows = x.size / cols;
  const WG = workgroupSize(cols);
  const params = new Params().u32(rows).u32(cols).bytes();
  const y = gpu.empty(x.shape);
  gpu.dispatch({
    kernel: softmaxForwardKernel,
    variant: { overrides: { WG } },
    params,
    bindings: [x, y],
    workgroups: gpu.grid(rows),
  });
  record(gpu, [x], [y], [y], ([dy]) => {
    if (!dy) return [];
    const dx = gpu.empty(x.shape);
    gpu.dispatch({
      kernel: softmaxBackwardKernel,
      variant: { overrides: { WG } },
      params,
      bindings: [y, dy, dx],
      workgroups: gpu.grid(rows),
    });
    return [dx];
  });
  return y;
}
