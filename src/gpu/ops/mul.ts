// Elementwise multiply with trailing-dimension broadcast of b.
import code from '../../../kernels/mul.wgsl?raw';
import type { Gpu } from '../context.ts';
import { defineKernel } from '../kernel.ts';
import type { Tensor } from '../tensor.ts';
import { binary } from './binary.ts';

export const mulKernel = defineKernel('mul', code);

export function mul(gpu: Gpu, a: Tensor, b: Tensor, out?: Tensor): Tensor {
  return binary(gpu, mulKernel, a, b, out);
}
