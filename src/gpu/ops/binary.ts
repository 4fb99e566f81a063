// Shared checks and dispatch for the elementwise binary ops (add, mul): out = a (op) b, where b has the
// size of a or of a's trailing dimensions (repeated over the leading ones). Also the pieces their
// backward rules share: the gradient of a broadcast b is the sum of its upstream gradient over the rows.
import type { Gpu } from '../context.ts';
import { ShapeError } from '../errors.ts';
import type { Kernel } from '../kernel.ts';
import { Params } from '../params.ts';
import type { Tensor } from '../tensor.ts';
import { scale } from './scale.ts';
import { sumRows } from './sum-rows.ts';

const WG = 256;

export function binary(gpu: Gpu, kernel: Kernel, a: Tensor, b: Tensor, out?: Tensor): Tensor {
  if (a.dtype !== 'f32' || b.dtype !== 'f32') throw new ShapeError(`${kernel.name}: f32 operands only`);
  const trailing = a.shape.slice(a.shape.length - b.shape.length);
  if (b.size === 0 || a.size % b.size !== 0 || trailing.join() !== b.shape.join()) {
    throw new ShapeError(`${kernel.name}: [${b.shape}] does not broadcast to [${a.shape}]`);
  }
  if (out && out.size !== a.size)
    throw new ShapeError(`${kernel.name}: out has ${out.size} elements, expected ${a.size}`);
  const o = out ?? gpu.empty(a.shape);
  gpu.dispatch({
    kernel,
    params: new Params().u32(a.size).u32(b.size).bytes(),
    bindings: [a, b, o],
    workgroups: gpu.grid(Math.ceil(a.size / WG)),
  });
  return o;
}

/**
 * The gradient of b from an upstream gradient g of a's shape: a copy of g when b has a's size, else the
 * column sums of g viewed as [a.size / b.size, b.size]; shaped like b either way.
 */
export function broadcastGrad(gpu: Gpu, g: Tensor, b: Tensor): Tensor {
  if (g.size === b.size) return scale(gpu, g, 1, gpu.empty(b.shape));
  const sums = sumRows(gpu, g, g.size / b.size, b.size);
  if (b.shape.length === 1) return sums;
  const shaped = scale(gpu, sums, 1, gpu.empty(b.shape));
  sums.dispose();
  return shaped;
}
