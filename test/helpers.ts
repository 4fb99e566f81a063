// Shared test helpers: one GPU device per test file (destroyed in teardown), a seeded random source
// and a closeness check against float64 references.
import { afterAll, beforeAll, expect } from 'vitest';
import type { Gpu, GpuOptions } from '../src/gpu/context.ts';
import { createNodeGpu } from '../src/gpu/node.ts';
import { uniformStream } from '../src/model/random.ts';

export function setupGpu(options: GpuOptions = {}): () => Gpu {
  let gpu: Gpu | undefined;
  beforeAll(async () => {
    gpu = await createNodeGpu({ ...options, announce: false });
  });
  afterAll(() => {
    gpu?.destroy();
  });
  return () => {
    if (!gpu) throw new Error('GPU not initialised');
    return gpu;
  };
}

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
export const rng = uniformStream;

/** n values uniform in [-scale, scale), rounded to float32. */
export function randomArray(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (r() * 2 - 1) * scale;
  return out;
}

/**
 * Asserts |actual - expected| <= rtol * magnitude + atol elementwise, where magnitude is the per-element
 * scale of the computation (e.g. sum |a||b| for a dot product), defaulting to |expected|.
 */
export function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  {
    rtol = 1e-5,
    atol = 1e-6,
    magnitude,
  }: { rtol?: number; atol?: number; magnitude?: ArrayLike<number> } = {},
): void {
  expect(actual.length).toBe(expected.length);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!;
    const a = actual[i]!;
    const mag = magnitude ? magnitude[i]! : Math.abs(e);
    const tol = rtol * mag + atol;
    const err = Math.abs(a - e);
    if (!(err <= tol) && !(a === e)) {
      const excess = Number.isNaN(err) ? Number.POSITIVE_INFINITY : err / tol;
      if (worst < 0 || excess > worstExcess) {
        worst = i;
        worstExcess = excess;
      }
    }
  }
  if (worst >= 0) {
    expect.fail(
      `element ${worst}: got ${actual[worst]}, expected ${expected[worst]} (${worstExcess.toFixed(1)}x the tolerance)`,
    );
  }
}
