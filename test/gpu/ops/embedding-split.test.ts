// An embedding table (and its gradient) larger than the storage-binding limit is processed in row
// chunks. A 4 KiB limit exercises the path Qwen's 151936 x 1536 table takes, for host ids and for ids
// already on the GPU (embeddingRows, what a decode step feeds from its sampled tokens).
import { describe, expect, it } from 'vitest';
import { GpuValidationError } from '../../../src/gpu/errors.ts';
import { embedding, embeddingRows } from '../../../src/gpu/ops/embedding.ts';
import { expectClose, randomArray, setupGpu } from '../../helpers.ts';
import { roundToHalf } from '../../reference/half.ts';
import { embeddingRef } from '../../reference/logprobs.ts';
import { checkGradients } from '../gradcheck.ts';

const gpu = setupGpu({ maxBindingSize: 4096 });

describe('embedding over the binding limit', () => {
  // 100 x 13 f32 = 5200 bytes: two chunks of rows, split at a row whose offset is not 256-aligned.
  it('gathers and scatters across row chunks (f32, V=100, D=13)', async () => {
    const ids = [99, 0, 72, 73, 72, 1, 99, 50, 73, 0, 98];
    await checkGradients(gpu(), {
      inputs: [{ data: randomArray(100 * 13, 31), shape: [100, 13], grad: true }],
      forward: (g, [t]) => embedding(g, t!, ids),
      reference: ([t]) => embeddingRef(t!, 13, ids),
    });
  });

  it('gathers from an f16 table across row chunks (V=400, D=13) (or refuses it without shader-f16)', async () => {
    const g = gpu();
    if (!g.hasF16) {
      const t = g.tensor(new Float32Array(400 * 13), [400, 13], 'f16');
      expect(() => embedding(g, t, [0])).toThrow(GpuValidationError);
      t.dispose();
      return;
    }
    const [vocab, dim] = [400, 13];
    expect(vocab * dim * 2).toBeGreaterThan(2 * 4096);
    const data = randomArray(vocab * dim, 32, 2);
    const ids = [399, 0, 157, 158, 157, 300, 301, 1];
    const out = g.scope(() => embedding(g, g.tensor(data, [vocab, dim], 'f16'), ids));
    expectClose(await g.read(out), embeddingRef(Array.from(data, roundToHalf), dim, ids), {
      rtol: 0,
      atol: 0,
    });
    out.dispose();
  });

  for (const dtype of ['f32', 'f16'] as const) {
    it(`looks up GPU ids across row chunks (${dtype}, V=400, D=13), out-of-range ids give zero rows`, async () => {
      const g = gpu();
      if (dtype === 'f16' && !g.hasF16) return; // refused as in the test above
      const [vocab, dim] = [400, 13];
      const data = randomArray(vocab * dim, 33, 2);
      const ids = [399, 0, 157, 158, 157, 300, -1, 400, 1];
      const out = g.scope(() =>
        embeddingRows(g, g.tensor(data, [vocab, dim], dtype), g.tensor(ids, [ids.length], 'i32')),
      );
      const table = dtype === 'f16' ? Array.from(data, roundToHalf) : Array.from(data, Math.fround);
      const want = new Float64Array(ids.length * dim);
      ids.forEach((id, i) => {
        if (id >= 0 && id < vocab) want.set(table.slice(id * dim, (id + 1) * dim), i * dim);
      });
      expectClose(await g.read(out), want, { rtol: 0, atol: 0 });
      out.dispose();
    });
  }
});
