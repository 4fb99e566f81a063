// Embedding gather with host ids: forward against the float64 gather (f32 and f16 tables), the
// scatter-add backward against finite differences (repeated ids, untouched rows), a frozen table
// getting no gradient, and id validation.
import { describe, expect, it } from 'vitest';
import { GpuValidationError, ShapeError } from '../../../src/gpu/errors.ts';
import { embedding, groupIds } from '../../../src/gpu/ops/embedding.ts';
import { expectClose, randomArray, setupGpu } from '../../helpers.ts';
import { roundToHalf } from '../../reference/half.ts';
import { embeddingRef } from '../../reference/logprobs.ts';
import { checkGradients } from '../gradcheck.ts';

const gpu = setupGpu();

describe('embedding', () => {
  const cases: [number, number, number[]][] = [
    [1, 1, [0]],
    [11, 7, [3, 0, 3, 10, 3, 5, 0, 9, 10]],
    [5, 129, [4, 4, 1]],
    [40, 3, [39, 0, 17, 17, 17, 17, 2]],
  ];
  for (const [vocab, dim, ids] of cases) {
    it(`gradient of the table matches finite differences (V=${vocab}, D=${dim}, S=${ids.length})`, async () => {
      await checkGradients(gpu(), {
        inputs: [{ data: randomArray(vocab * dim, vocab + dim), shape: [vocab, dim], grad: true }],
        forward: (g, [t]) => embedding(g, t!, ids),
        reference: ([t]) => embeddingRef(t!, dim, ids),
      });
    });
  }

  it('gives a frozen table no gradient', async () => {
    const ids = Int32Array.from([1, 2, 1]);
    await checkGradients(gpu(), {
      inputs: [{ data: randomArray(4 * 6, 3), shape: [4, 6], grad: false }],
      forward: (g, [t]) => embedding(g, t!, ids),
      reference: ([t]) => embeddingRef(t!, 6, ids),
    });
  });

  it('gathers from an f16 table into f32 (or refuses it without shader-f16)', async () => {
    const g = gpu();
    if (!g.hasF16) {
      const t = g.tensor(new Float32Array(9 * 67), [9, 67], 'f16');
      expect(() => embedding(g, t, [0])).toThrow(GpuValidationError);
      t.dispose();
      return;
    }
    const [vocab, dim] = [9, 67];
    const data = randomArray(vocab * dim, 5, 4);
    const ids = [8, 0, 4, 4, 7];
    const out = g.scope(() => embedding(g, g.tensor(data, [vocab, dim], 'f16'), ids));
    expect(out.dtype).toBe('f32');
    expect(out.shape).toEqual([5, dim]);
    expectClose(await g.read(out), embeddingRef(Array.from(data, roundToHalf), dim, ids), {
      rtol: 0,
      atol: 0,
    });
    out.dispose();
  });

  it('groups positions by id', () => {
    const gr = groupIds([5, 2, 5, 0, 2, 5], 6);
    expect(Array.from(gr.uniq)).toEqual([0, 2, 5]);
    expect(Array.from(gr.offsets)).toEqual([0, 1, 3, 6]);
    expect(Array.from(gr.positions)).toEqual([3, 1, 4, 0, 2, 5]);
  });

  it('rejects ids outside the vocabulary', () => {
    const g = gpu();
    const t = g.tensor(new Float32Array(12), [4, 3]);
    expect(() => embedding(g, t, [0, 4])).toThrow(ShapeError);
    expect(() => embedding(g, t, [-1])).toThrow(ShapeError);
    expect(() => embedding(g, t, [1.5])).toThrow(ShapeError);
    t.dispose();
  });
});
