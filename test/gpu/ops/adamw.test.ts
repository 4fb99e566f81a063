// AdamW and global gradient-norm clipping against float64 references over 12 steps, on parameters of
// 1, 7, 129 and 1000 (and 5000, several partial sums) elements: weight decay on and off (and per
// parameter), clipping active and inactive (in place, or fused into AdamW through gradScale), a zero
// gradient, a huge gradient, and shape errors.
import { describe, expect, it } from 'vitest';
import type { Gpu } from '../../../src/gpu/context.ts';
import { ShapeError } from '../../../src/gpu/errors.ts';
import { AdamW } from '../../../src/gpu/ops/adamw.ts';
import { clipGradNorm, gradNorm } from '../../../src/gpu/ops/clip-grad.ts';
import type { Tensor } from '../../../src/gpu/tensor.ts';
import { expectClose, randomArray, setupGpu } from '../../helpers.ts';
import { type AdamWRefState, adamwRefStep, clipGradNormRef } from '../../reference/adamw.ts';

const gpu = setupGpu();

interface Case {
  sizes: number[];
  steps: number;
  weightDecay: number;
  /** Per-parameter weight decay overrides (undefined: the optimiser's). */
  wdOverride?: (number | undefined)[];
  maxNorm?: number;
  /** Apply the clip coefficient inside AdamW (gradNorm + gradScale) instead of clipGradNorm. */
  fused?: boolean;
  /** Gradient of parameter i at step t. */
  grad: (i: number, t: number, n: number) => Float32Array;
  lr: (t: number) => number;
}

const H = { beta1: 0.9, beta2: 0.999, eps: 1e-8 };

async function runCase(g: Gpu, c: Case): Promise<void> {
  const init = c.sizes.map((n, i) => randomArray(n, 100 + i, 2));
  const params = init.map((x, i) => g.tensor(x, [c.sizes[i]!]));
  const grads = c.sizes.map((n) => g.zeros([n]));
  const opt = new AdamW({ weightDecay: c.weightDecay });
  const theta = init.map((x) => Float64Array.from(x));
  const fresh = (n: number): AdamWRefState => ({ m: new Float64Array(n), v: new Float64Array(n), t: 0 });
  const states = c.sizes.map(fresh);
  // A shadow run on |g| without decay: its m is the scale of m's terms (m itself may cancel to ~0), and
  // its parameter motion is the scale of the summed updates; both set the tolerances.
  const shadow = c.sizes.map((n) => new Float64Array(n));
  const shadowStates = c.sizes.map(fresh);
  try {
    for (let t = 0; t < c.steps; t++) {
      const gs = c.sizes.map((n, i) => c.grad(i, t, n));
      for (let i = 0; i < gs.length; i++) g.write(grads[i]!, gs[i]!);
      const ref = gs.map((x) => Float64Array.from(x));
      const refNorm = c.maxNorm === undefined ? undefined : clipGradNormRef(ref, c.maxNorm);
      let norm: Tensor | undefined;
      let coef: Tensor | undefined;
      if (c.maxNorm !== undefined && c.fused) ({ norm, coef } = gradNorm(g, grads, c.maxNorm));
      else if (c.maxNorm !== undefined) norm = clipGradNorm(g, grads, c.maxNorm);
      const lr = c.lr(t);
      opt.step(
        g,
        params.map((p, i) => ({ param: p, grad: grads[i]!, weightDecay: c.wdOverride?.[i] })),
        lr,
        coef,
      );
      if (norm && refNorm !== undefined) {
        const n = await g.read(norm);
        expectClose(n, [refNorm], { rtol: 1e-5, atol: 0 });
        if (!c.fused) {
          for (let i = 0; i < grads.length; i++) {
            expectClose(await g.read(grads[i]!), ref[i]!, { rtol: 2e-6, atol: 1e-30 });
          }
        }
      }
      norm?.dispose();
      coef?.dispose();
      for (let i = 0; i < theta.length; i++) {
        adamwRefStep(theta[i]!, ref[i]!, states[i]!, {
          ...H,
          lr,
          weightDecay: c.wdOverride?.[i] ?? c.weightDecay,
        });
        const abs = ref[i]!.map((x) => Math.abs(x));
        adamwRefStep(shadow[i]!, abs, shadowStates[i]!, { ...H, lr, weightDecay: 0 });
      }
    }
    expect(opt.stepCount).toBe(c.steps);
    for (let i = 0; i < params.length; i++) {
      const got = await g.read(params[i]!);
      const moved = theta[i]!.map((x, j) => Math.abs(x - init[i]![j]!));
      const pScale = theta[i]!.map((x, j) => Math.abs(x) + Math.abs(shadow[i]![j]!));
      // The change over all steps is about steps * lr; the tolerance is far below it.
      expectClose(got, theta[i]!, { rtol: 2e-6, atol: 1e-12, magnitude: pScale });
      expect(Math.max(...moved)).toBeGreaterThan(0);
      const s = opt.stateOf(params[i]!)!;
      expect(s.step).toBe(c.steps);
      const mScale = shadowStates[i]!.m;
      expectClose(await g.read(s.m), states[i]!.m, { rtol: 1e-5, atol: 1e-30, magnitude: mScale });
      expectClose(await g.read(s.v), states[i]!.v, { rtol: 1e-5, atol: 1e-37 });
    }
  } finally {
    opt.dispose();
    for (const t of [...params, ...grads]) t.dispose();
  }
}

const randGrad = (scale: number) => (i: number, t: number, n: number) =>
  randomArray(n, 1000 * t + i + 1, scale);
const decayingLr = (t: number) => 1e-2 * (1 - t / 20);
const SIZES = [1, 7, 129, 1000];

describe('AdamW', () => {
  it('matches the float64 reference without weight decay (12 steps, varying lr)', async () => {
    await runCase(gpu(), { sizes: SIZES, steps: 12, weightDecay: 0, grad: randGrad(1), lr: decayingLr });
  });

  it('matches with weight decay, and a per-parameter override to 0', async () => {
    await runCase(gpu(), {
      sizes: SIZES,
      steps: 12,
      weightDecay: 0.1,
      wdOverride: [0, undefined, undefined, 0.3],
      grad: randGrad(0.5),
      lr: () => 3e-2,
    });
  });

  it('handles zero gradients (decay only) and gradients of very different scales', async () => {
    await runCase(gpu(), {
      sizes: SIZES,
      steps: 11,
      weightDecay: 0.05,
      // Parameter 0 gets a zero gradient throughout; 1 tiny (near eps); 2 large; 3 zero on even steps.
      grad: (i, t, n) => {
        if (i === 0) return new Float32Array(n);
        if (i === 1) return randomArray(n, t + 7, 1e-8);
        if (i === 2) return randomArray(n, t + 8, 1e6);
        return t % 2 === 0 ? new Float32Array(n) : randomArray(n, t + 9, 1);
      },
      lr: () => 1e-2,
    });
  });

  it('restores its state: readState then loadState continues exactly as the original', async () => {
    const g = gpu();
    const a = new AdamW({ weightDecay: 0.1 });
    const b = new AdamW({ weightDecay: 0.1 });
    const pa = g.tensor(randomArray(129, 60), [129]);
    const grad = g.tensor(randomArray(129, 61), [129]);
    try {
      for (let t = 0; t < 3; t++) a.step(g, [{ param: pa, grad }], 1e-2);
      const saved = (await a.readState(g, pa))!;
      expect(saved.step).toBe(3);
      const pb = g.tensor(await g.read(pa), [129]);
      b.loadState(g, pb, saved);
      a.step(g, [{ param: pa, grad }], 1e-2);
      b.step(g, [{ param: pb, grad }], 1e-2);
      expect(Array.from(await g.read(pb))).toEqual(Array.from(await g.read(pa)));
      expect(b.stateOf(pb)!.step).toBe(4);
      pb.dispose();
    } finally {
      a.dispose();
      b.dispose();
      pa.dispose();
      grad.dispose();
    }
  });

  it('rejects mismatched shapes and dtypes', () => {
    const g = gpu();
    const opt = new AdamW();
    const p = g.zeros([7]);
    const gr = g.zeros([8]);
    const gi = g.zeros([7], 'i32');
    try {
      expect(() => opt.step(g, [{ param: p, grad: gr }], 1e-3)).toThrow(ShapeError);
      expect(() => opt.step(g, [{ param: p, grad: gi }], 1e-3)).toThrow(ShapeError);
      expect(() => opt.step(g, [{ param: p, grad: p }], 1e-3, gr)).toThrow(ShapeError);
      expect(opt.stepCount).toBe(0);
      expect(() => new AdamW({ beta2: 1 })).toThrow(RangeError);
    } finally {
      opt.dispose();
      for (const t of [p, gr, gi]) t.dispose();
    }
  });
});

describe('clipGradNorm + AdamW', () => {
  const sizes = [...SIZES, 5000];
  it('clipping active (norm ~ 22 > 1), applied in place', async () => {
    await runCase(gpu(), {
      sizes,
      steps: 12,
      weightDecay: 0.01,
      maxNorm: 1,
      grad: randGrad(1),
      lr: decayingLr,
    });
  });

  it('clipping active, fused into AdamW through gradScale', async () => {
    await runCase(gpu(), {
      sizes,
      steps: 12,
      weightDecay: 0,
      maxNorm: 0.5,
      fused: true,
      grad: randGrad(1),
      lr: decayingLr,
    });
  });

  it('clipping inactive (max norm above the norm)', async () => {
    await runCase(gpu(), {
      sizes,
      steps: 10,
      weightDecay: 0,
      maxNorm: 1e3,
      grad: randGrad(1),
      lr: decayingLr,
    });
  });

  it('a zero gradient everywhere gives norm 0 and no clipping; a huge gradient is clipped to max norm', async () => {
    await runCase(gpu(), {
      sizes,
      steps: 10,
      weightDecay: 0.1,
      maxNorm: 1,
      grad: (_i, t, n) => (t < 3 ? new Float32Array(n) : randomArray(n, t, t % 2 ? 1e15 : 1e-3)),
      lr: decayingLr,
    });
    const g = gpu();
    const big = g.tensor(randomArray(1000, 5, 1e15), [1000]);
    const norm = clipGradNorm(g, [big], 2);
    const after = gradNorm(g, [big]);
    expectClose(await g.read(after.norm), [2], { rtol: 1e-5 });
    expectClose(await g.read(after.coef), [1], { rtol: 0, atol: 0 });
    expect((await g.read(norm))[0]).toBeGreaterThan(1e16);
    for (const t of [big, norm, after.norm, after.coef]) t.dispose();
  });

  it('gradNorm of no gradients is 0, and rejects a bad max norm', async () => {
    const g = gpu();
    const { norm, coef } = gradNorm(g, [], 1);
    expect(Array.from(await g.read(norm))).toEqual([0]);
    expect(Array.from(await g.read(coef))).toEqual([1]);
    norm.dispose();
    coef.dispose();
    expect(() => gradNorm(g, [], 0)).toThrow(ShapeError);
  });
});
