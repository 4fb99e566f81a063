// Elementwise add with trailing-dimension broadcast of b (residual adds, bias adds).
import code from '../../../kernels/add.wgsl?raw';
import type { Gpu } from '../context.ts';
import { defineKernel } from '../kernel.ts';
import type { Tensor } from '../tensor.ts';
import { binary } from './binary.ts';

export const addKernel = defineKernel('add', code);

export function add(gpu: Gpu, a: Tensor, b: Tensor, out?: Tensor): Tensor {
  return binary(gpu, addKernel, a, b, out);
}
