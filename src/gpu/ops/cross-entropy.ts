// Per-token cross-entropy of logits [S, V] against integer targets (SFT warm-up): loss[s] =
// logsumexp(logits[s]) - logits[s, target], 0 where target == ignoreIndex; the caller averages.
// Backward: (softmax - onehot) * dloss, zero rows where ignored. Shares its kernels with tokenLogprobs.
import type { Gpu } from '../context.ts';
import type { Tensor } from '../tensor.ts';
import { pickedLogSoftmax } from './logprobs.ts';

export function crossEntropy(gpu: Gpu, logits: Tensor, targets: Int32Array, ignoreIndex = -100): Tensor {
  return pickedLogSoftmax(gpu, 'crossEntropy', logits, targets, {
    temperature: 1,
    sign: -1,
    ignore: ignoreIndex,
  });
}
