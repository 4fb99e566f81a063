// Gradient checks of the norm ops on shapes too large for checkGradients: the op runs under a tape with
// a random upstream gradient, and the gradients at a sample of positions are compared with central
// finite differences of the float64 reference.
import { expect } from 'vitest';
import { markTrainable, Tape } from '../../src/gpu/autograd.ts';
import type { Gpu } from '../../src/gpu/context.ts';
import type { Tensor } from '../../src/gpu/tensor.ts';
import { expectClose, randomArray, rng } from '../helpers.ts';

export interface SampledCase {
  inputs: { data: Float32Array; shape: number[] }[];
  forward: (gpu: Gpu, inputs: Tensor[]) => Tensor;
  reference: (inputs: Float64Array[]) => Float64Array;
  samples: number;
  h: number;
  tol: number;
}

export async function checkSampledGradients(gpu: Gpu, c: SampledCase): Promise<void> {
  const tensors = c.inputs.map((x) => markTrainable(gpu.tensor(x.data, x.shape)));
  const tape = new Tape(gpu);
  const y = tape.run(() => c.forward(gpu, tensors));
  const gy = randomArray(y.size, 77);
  const seed = gpu.tensor(gy, y.shape);
  const grads = tape.backward(y, seed);
  const xs = c.inputs.map((x) => Float64Array.from(x.data));
  const loss = () => {
    const out = c.reference(xs);
    let s = 0;
    for (let i = 0; i < out.length; i++) s += out[i]! * gy[i]!;
    return s;
  };
  const pick = rng(5);
  for (let i = 0; i < tensors.length; i++) {
    const g = grads.get(tensors[i]!);
    expect(g, `input ${i} has no gradient`).toBeDefined();
    const all = await gpu.read(g!);
    const n = xs[i]!.length;
    const idx = [0, n - 1, ...Array.from({ length: c.samples }, () => Math.floor(pick() * n))];
    const fd = idx.map((j) => {
      const orig = xs[i]![j]!;
      xs[i]![j] = orig + c.h;
      const up = loss();
      xs[i]![j] = orig - c.h;
      const down = loss();
      xs[i]![j] = orig;
      return (up - down) / (2 * c.h);
    });
    const scale = Math.max(1e-12, ...fd.map(Math.abs));
    expectClose(
      idx.map((j) => all[j]!),
      fd,
      { rtol: 0, atol: c.tol * scale },
    );
  }
  for (const g of grads.values()) g.dispose();
  for (const t of [...tensors, y, seed]) t.dispose();
  tape.dispose();
}
