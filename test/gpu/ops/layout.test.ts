// Layout ops: reshape views share memory and release their base, permute / slice / concat match the
// float64 index references, and their gradients match finite differences.
import { describe, expect, it } from 'vitest';
import { concat, permute, reshape, slice } from '../../../src/gpu/ops/layout.ts';
import { scale } from '../../../src/gpu/ops/scale.ts';
import { randomArray, setupGpu } from '../../helpers.ts';
import { concatRef, permuteRef, sliceRef } from '../../reference/layout.ts';
import { checkGradients } from '../gradcheck.ts';

const gpu = setupGpu();

describe('layout ops', () => {
  it('reshape is a view: same data, released with its last reference', async () => {
    await gpu().sync();
    const live = gpu().pool.snapshot().liveBytes;
    const x = gpu().tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    const v = reshape(gpu(), x, [3, -1]);
    expect(v.shape).toEqual([3, 2]);
    expect(v.buffer).toBe(x.buffer);
    x.dispose();
    const doubled = scale(gpu(), v, 2);
    expect(Array.from(await gpu().read(doubled))).toEqual([2, 4, 6, 8, 10, 12]);
    doubled.dispose();
    v.dispose();
    gpu().scope(() => {
      reshape(gpu(), gpu().tensor([1, 2], [2]), [1, 2]);
    });
    await gpu().sync();
    expect(gpu().pool.snapshot().liveBytes).toBe(live);
    gpu().scope(() => {
      expect(() => reshape(gpu(), gpu().tensor([1, 2, 3], [3]), [2, 2])).toThrow(/does not hold/);
    });
  });

  for (const [shape, perm] of [
    [
      [7, 5],
      [1, 0],
    ],
    [
      [3, 4, 5],
      [1, 0, 2],
    ],
    [
      [3, 4, 5],
      [2, 0, 1],
    ],
    [
      [2, 3, 4, 5],
      [0, 2, 1, 3],
    ],
    [
      [1, 129, 1],
      [2, 1, 0],
    ],
  ] as [number[], number[]][]) {
    it(`permute [${shape}] by [${perm}] with gradients`, async () => {
      const n = shape.reduce((a, b) => a * b, 1);
      await checkGradients(gpu(), {
        inputs: [{ data: randomArray(n, n), shape, grad: true }],
        forward: (g, [x]) => permute(g, x!, perm),
        reference: ([x]) => permuteRef(x!, shape, perm),
      });
    });
  }

  it('slice along each axis with gradients', async () => {
    const shape = [4, 5, 6];
    for (const [axis, start, end] of [
      [0, 1, 3],
      [1, 0, 5],
      [2, 5, 6],
      [2, 2, 2],
    ] as const) {
      await checkGradients(gpu(), {
        inputs: [{ data: randomArray(120, axis + start), shape, grad: true }],
        forward: (g, [x]) => slice(g, x!, axis, start, end),
        reference: ([x]) => sliceRef(x!, shape, axis, start, end),
      });
    }
    expect(() => slice(gpu(), gpu().tensor([1, 2], [2]), 0, 1, 3)).toThrow(/outside/);
  });

  it('concat along inner and outer axes with gradients', async () => {
    for (const axis of [0, 1]) {
      const shapes =
        axis === 0
          ? [
              [2, 3],
              [1, 3],
              [4, 3],
            ]
          : [
              [3, 2],
              [3, 1],
              [3, 4],
            ];
      await checkGradients(gpu(), {
        inputs: shapes.map((s, i) => ({ data: randomArray(s[0]! * s[1]!, 30 + i), shape: s, grad: i !== 1 })),
        forward: (g, xs) => concat(g, xs, axis),
        reference: (xs) => concatRef(xs, shapes, axis),
      });
    }
  });
});
