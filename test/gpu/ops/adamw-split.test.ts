// AdamW and gradient-norm clipping on tensors larger than the storage-binding limit: with an artificial
// 4 KiB limit, 1025- and 5000-element tensors are processed in binding-sized pieces.
import { describe, expect, it } from 'vitest';
import { AdamW } from '../../../src/gpu/ops/adamw.ts';
import { clipGradNorm, flatChunks } from '../../../src/gpu/ops/clip-grad.ts';
import { expectClose, randomArray, setupGpu } from '../../helpers.ts';
import { type AdamWRefState, adamwRefStep, clipGradNormRef } from '../../reference/adamw.ts';

const gpu = setupGpu({ maxBindingSize: 4096 });

describe('AdamW and clipGradNorm over the binding limit', () => {
  it('splits large tensors and matches the float64 reference over 10 steps', async () => {
    const g = gpu();
    const sizes = [7, 1025, 5000];
    expect(flatChunks(g, 5000).length).toBeGreaterThan(1);
    const init = sizes.map((n, i) => randomArray(n, 40 + i));
    const params = init.map((x, i) => g.tensor(x, [sizes[i]!]));
    const grads = sizes.map((n) => g.zeros([n]));
    const theta = init.map((x) => Float64Array.from(x));
    const states: AdamWRefState[] = sizes.map((n) => ({
      m: new Float64Array(n),
      v: new Float64Array(n),
      t: 0,
    }));
    const opt = new AdamW({ weightDecay: 0.1 });
    const h = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, lr: 1e-2 };
    try {
      for (let t = 0; t < 10; t++) {
        const gs = sizes.map((n, i) => randomArray(n, 500 + 10 * t + i));
        for (let i = 0; i < gs.length; i++) g.write(grads[i]!, gs[i]!);
        const ref = gs.map((x) => Float64Array.from(x));
        const refNorm = clipGradNormRef(ref, 5);
        const norm = clipGradNorm(g, grads, 5);
        opt.step(
          g,
          params.map((p, i) => ({ param: p, grad: grads[i]! })),
          h.lr,
        );
        expectClose(await g.read(norm), [refNorm], { rtol: 1e-5, atol: 0 });
        norm.dispose();
        for (let i = 0; i < sizes.length; i++) {
          expectClose(await g.read(grads[i]!), ref[i]!, { rtol: 2e-6, atol: 1e-30 });
          adamwRefStep(theta[i]!, ref[i]!, states[i]!, h);
        }
      }
      for (let i = 0; i < sizes.length; i++) {
        expectClose(await g.read(params[i]!), theta[i]!, { rtol: 5e-6, atol: 1e-6 });
        expectClose(await g.read(opt.stateOf(params[i]!)!.v), states[i]!.v, { rtol: 1e-5, atol: 1e-37 });
      }
    } finally {
      opt.dispose();
      for (const t of [...params, ...grads]) t.dispose();
    }
  });
});
