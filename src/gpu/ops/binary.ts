// Shared checks and dispatch for the elementwise binary ops (add, mul): out = a (op) b, where b has the
// size of a or of a's trailing dimensions (repeated over the leading ones).
import type { Gpu } from '../context.ts';
import { ShapeError } from '../errors.ts';
import type { Kernel } from '../kernel.ts';
import { Params } from '../params.ts';
import type { Tensor } from '../tensor.ts';

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
