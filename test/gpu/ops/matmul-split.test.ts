// A weight larger than the storage-binding limit is split into pieces (along N for [N, K] weights,
// along K for [K, N] ones). A small artificial limit exercises the same path a 900 MB LM head takes.
import { describe, it } from 'vitest';
import { matmul } from '../../../src/gpu/ops/matmul.ts';
import { expectClose, randomArray, setupGpu } from '../../helpers.ts';
import { matmulRef } from '../../reference/matmul.ts';

const gpu = setupGpu({ maxBindingSize: 4096 });

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
