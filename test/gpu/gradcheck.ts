// Gradient checking for ops: runs an op on the GPU under a tape, back-propagates a random upstream
// gradient, and compares the forward with a float64 reference and every input gradient with central
// finite differences of that reference (in float64, so the differences are accurate to ~1e-9).
import { expect } from 'vitest';
import { markTrainable, Tape } from '../../src/gpu/autograd.ts';
import type { Gpu } from '../../src/gpu/context.ts';
import type { Tensor } from '../../src/gpu/tensor.ts';
import { expectClose, randomArray } from '../helpers.ts';

export interface GradInput {
  data: Float32Array;
  shape: number[];
  /** Whether the gradient of this input is checked (others are frozen: no gradient may be produced). */
  grad: boolean;
}

export interface GradCase {
  inputs: GradInput[];
  /** The op under test. */
  forward: (gpu: Gpu, inputs: Tensor[]) => Tensor;
  /** Float64 reference of the same op. */
  reference: (inputs: Float64Array[]) => Float64Array;
  seed?: number;
  /** Tolerances of the forward and of the gradients, relative to the largest magnitude. */
  forwardTol?: number;
  gradTol?: number;
  /** Finite-difference step. */
  h?: number;
}

export async function checkGradients(gpu: Gpu, c: GradCase): Promise<void> {
  const tensors = c.inputs.map((x) => {
    const t = gpu.tensor(x.data, x.shape);
    return x.grad ? markTrainable(t) : t;
  });
  const tape = new Tape(gpu);
  const y = tape.run(() => c.forward(gpu, tensors));
  const xs = c.inputs.map((x) => Float64Array.from(x.data));
  const ref = c.reference(xs);
  const got = await gpu.read(y);
  const scale = Math.max(1e-6, ...Array.from(ref, Math.abs));
  expectClose(got, ref, { rtol: 0, atol: (c.forwardTol ?? 1e-5) * scale });

  const gy = randomArray(y.size, c.seed ?? 99);
  const seed = gpu.tensor(gy, y.shape);
  const grads = tape.backward(y, seed);
  const h = c.h ?? 1e-4;
  const loss = (inputs: Float64Array[]) => {
    const out = c.reference(inputs);
    let s = 0;
    for (let i = 0; i < out.length; i++) s += out[i]! * gy[i]!;
    return s;
  };
  // Each input's tolerance scales with its own largest gradient, but not below a tenth of the largest of all:
  // a gradient that is exactly zero in float64 (an input the output does not depend on here) still
  // carries float32 rounding of the size of the others (fused multiply-adds on GPUs leave ~1e-8).
  const fds: (Float64Array | undefined)[] = c.inputs.map((input, i) => {
    if (!input.grad) return undefined;
    const fd = new Float64Array(xs[i]!.length);
    for (let j = 0; j < fd.length; j++) {
      const orig = xs[i]![j]!;
      xs[i]![j] = orig + h;
      const up = loss(xs);
      xs[i]![j] = orig - h;
      const down = loss(xs);
      xs[i]![j] = orig;
      fd[j] = (up - down) / (2 * h);
    }
    return fd;
  });
  const largest = (fd: Float64Array | undefined) => (fd ? Math.max(...Array.from(fd, Math.abs)) : 0);
  const floor = Math.max(1e-6, 0.1 * Math.max(...fds.map(largest)));
  for (let i = 0; i < c.inputs.length; i++) {
    const g = grads.get(tensors[i]!);
    if (!c.inputs[i]!.grad) {
      expect(g, `input ${i} is frozen and must get no gradient`).toBeUndefined();
      continue;
    }
    expect(g, `input ${i} has no gradient`).toBeDefined();
    const gscale = Math.max(floor, largest(fds[i]));
    expectClose(await gpu.read(g!), fds[i]!, { rtol: 0, atol: (c.gradTol ?? 1e-4) * gscale });
  }
  for (const g of grads.values()) g.dispose();
  for (const t of [...tensors, y, seed]) t.dispose();
  tape.dispose();
}
