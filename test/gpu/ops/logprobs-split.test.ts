// Logits larger than the storage-binding limit are processed in row ranges (forward and backward).
// A 4 KiB limit exercises the path [512, 151936] logits take.
import { describe, it } from 'vitest';
import { crossEntropy } from '../../../src/gpu/ops/cross-entropy.ts';
import { entropy, tokenLogprobs } from '../../../src/gpu/ops/logprobs.ts';
import { randomArray, rng, setupGpu } from '../../helpers.ts';
import { crossEntropyRef, entropyRef, tokenLogprobsRef } from '../../reference/logprobs.ts';
import { checkGradients } from '../gradcheck.ts';

const gpu = setupGpu({ maxBindingSize: 4096 });

function randomTargets(rows: number, cols: number, seed: number): Int32Array {
  const r = rng(seed);
  return Int32Array.from({ length: rows }, () => Math.floor(r() * cols));
}

describe('logits over the binding limit', () => {
  // 40 x 33 f32 = 5280 bytes (2 ranges); 20 x 129 = 10320 bytes (3 ranges, 7 rows each).
  for (const [rows, cols] of [
    [40, 33],
    [20, 129],
  ] as const) {
    it(`tokenLogprobs across row ranges (${rows}x${cols})`, async () => {
      const targets = randomTargets(rows, cols, 50);
      await checkGradients(gpu(), {
        inputs: [{ data: randomArray(rows * cols, 51, 3), shape: [rows, cols], grad: true }],
        forward: (g, [x]) => tokenLogprobs(g, x!, targets, 0.7),
        reference: ([x]) => tokenLogprobsRef(x!, cols, targets, 0.7),
      });
    });

    it(`entropy across row ranges (${rows}x${cols})`, async () => {
      await checkGradients(gpu(), {
        inputs: [{ data: randomArray(rows * cols, 52, 3), shape: [rows, cols], grad: true }],
        forward: (g, [x]) => entropy(g, x!, 1.3),
        reference: ([x]) => entropyRef(x!, cols, 1.3),
      });
    });

    it(`crossEntropy across row ranges (${rows}x${cols})`, async () => {
      const targets = randomTargets(rows, cols, 53);
      for (let i = 0; i < rows; i += 3) targets[i] = -100;
      await checkGradients(gpu(), {
        inputs: [{ data: randomArray(rows * cols, 54, 3), shape: [rows, cols], grad: true }],
        forward: (g, [x]) => crossEntropy(g, x!, targets),
        reference: ([x]) => crossEntropyRef(x!, cols, targets),
      });
    });
  }
});
