// sample over the binding limit: a logits batch bigger than one binding is sampled in groups of rows
// bound at aligned offsets, and gives the same ids as one unsplit dispatch on another context.
import { describe, expect, it } from 'vitest';
import type { Gpu } from '../../../src/gpu/context.ts';
import { ShapeError } from '../../../src/gpu/errors.ts';
import { type SampleOptions, sample } from '../../../src/gpu/ops/sample.ts';
import { randomArray, setupGpu } from '../../helpers.ts';
import { argmaxRef } from '../../reference/sample.ts';

const gpu = setupGpu({ maxBindingSize: 4096 });
const whole = setupGpu();

async function draw(g: Gpu, x: Float32Array, rows: number, opts: SampleOptions): Promise<number[]> {
  const ids = g.scope(() => sample(g, g.tensor(x, [rows, x.length / rows]), opts));
  const out = Array.from((await g.read(ids)) as Int32Array);
  ids.dispose();
  return out;
}

describe('sample over the binding limit', () => {
  // 256 columns: 4 rows per 4 KiB binding; 96 columns: groups of 10 rows (3840-byte offsets).
  for (const [rows, V] of [
    [10, 256],
    [23, 96],
  ] as const) {
    it(`splits ${rows} rows of ${V} logits and matches the unsplit result`, async () => {
      const x = randomArray(rows * V, V, 2);
      const greedy = await draw(gpu(), x, rows, { temperature: 0, seed: 0 });
      expect(greedy).toEqual(Array.from({ length: rows }, (_, r) => argmaxRef(x, r * V, V)));
      const opts = { temperature: 1.3, topK: 40, topP: 0.9, seed: 99, step: 3 };
      expect(await draw(gpu(), x, rows, opts)).toEqual(await draw(whole(), x, rows, opts));
    });
  }

  it('throws a ShapeError when rows cannot be grouped under the limit', () => {
    const g = gpu();
    g.scope(() => {
      expect(() => sample(g, g.zeros([2, 1100]), { temperature: 1, seed: 0 })).toThrow(ShapeError);
      // 400-byte rows at 256-byte aligned offsets come in groups of 16, over the limit.
      if (g.device.limits.minStorageBufferOffsetAlignment === 256)
        expect(() => sample(g, g.zeros([11, 100]), { temperature: 1, seed: 0 })).toThrow(ShapeError);
    });
  });
});
