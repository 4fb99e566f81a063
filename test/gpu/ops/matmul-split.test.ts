// A weight larger than the storage-binding limit is split into pieces (along N for [N, K] weights,
// along K for [K, N] ones), and one larger than maxBufferSize is stored in row blocks that each become
// such a piece. Small artificial limits exercise the same paths a 900 MB LM head takes.
import { describe, expect, it } from 'vitest';
import { matmul } from '../../../src/gpu/ops/matmul.ts';
import { expectClose, randomArray, setupGpu } from '../../helpers.ts';
import { matmulRef } from '../../reference/matmul.ts';

const gpu = setupGpu({ maxBindingSize: 4096 });
const blocked = setupGpu({ maxBindingSize: 4096, maxBufferSize: 6144 });

describe('matmul over the binding limit', () => {
  // B is about 37 x 83 f32 = 12 KiB, three times the 4 KiB limit; A and C stay below it. The first
  // pair of shapes takes the general kernel, the second the vec4 one.
  const cases: [boolean, number, number, number][] = [
    [true, 5, 37, 83],
    [false, 5, 83, 37],
    [true, 5, 40, 84],
    [false, 5, 84, 40],
  ];
  for (const [transB, M, K, N] of cases) {
    it(`splits B (transB=${transB}, ${M}x${K}x${N}) and matches the reference`, async () => {
      const a = randomArray(M * K, 20);
      const b = randomArray(K * N, 21);
      const bias = randomArray(N, 22);
      const c = gpu().scope(() =>
        matmul(gpu(), gpu().tensor(a, [M, K]), gpu().tensor(b, transB ? [N, K] : [K, N]), {
          transB,
          bias: gpu().tensor(bias, [N]),
        }),
      );
      const ref = matmulRef(a, b, M, K, N, { transB, bias });
      expectClose(await gpu().read(c), ref.c, { magnitude: ref.magnitude });
      c.dispose();
    });
  }
});

describe('matmul with B in row blocks', () => {
  // B (12 KiB) is over the 6 KiB maxBufferSize: stored as row blocks, each split again at 4 KiB.
  const cases: [boolean, number, number, number][] = [
    [true, 5, 37, 83],
    [false, 5, 83, 37],
    [true, 6, 40, 84],
    [false, 6, 84, 40],
  ];
  for (const [transB, M, K, N] of cases) {
    it(`reads each block (transB=${transB}, ${M}x${K}x${N}), with a bias, as the reference`, async () => {
      const g = blocked();
      const a = randomArray(M * K, 30);
      const b = randomArray(K * N, 31);
      const bias = randomArray(N, 32);
      const weight = g.rowsTensor(transB ? [N, K] : [K, N], 'f32');
      g.writeRows(weight, 0, b);
      expect(weight.blocks?.parts.length).toBeGreaterThanOrEqual(2);
      const c = g.scope(() => matmul(g, g.tensor(a, [M, K]), weight, { transB, bias: g.tensor(bias, [N]) }));
      const ref = matmulRef(a, b, M, K, N, { transB, bias });
      expectClose(await g.read(c), ref.c, { magnitude: ref.magnitude });
      c.dispose();
      weight.dispose();
    });
  }
});
