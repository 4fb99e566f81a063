// Learning-rate schedules (transformers' get_scheduler semantics) against hand-derived values at the
// start and end of warm-up, mid-decay and the end of training.
import { describe, expect, it } from 'vitest';
import { learningRate, lrMultiplier, warmupStepsFromRatio } from '../../src/gpu/lr-schedule.ts';

describe('learningRate', () => {
  it('constant ignores warm-up', () => {
    const s = { type: 'constant', baseLr: 1e-6, warmupSteps: 10, totalSteps: 100 } as const;
    for (const step of [0, 5, 10, 99, 100]) expect(learningRate(s, step)).toBe(1e-6);
  });

  it('constant_with_warmup ramps linearly from 0 then stays', () => {
    const s = { type: 'constant_with_warmup', baseLr: 2e-5, warmupSteps: 4 } as const;
    expect(learningRate(s, 0)).toBe(0);
    expect(learningRate(s, 1)).toBeCloseTo(5e-6, 18);
    expect(learningRate(s, 3)).toBeCloseTo(1.5e-5, 18);
    expect(learningRate(s, 4)).toBe(2e-5);
    expect(learningRate(s, 1000)).toBe(2e-5);
  });

  it('linear: warm-up over 10 steps, then to 0 at step 110', () => {
    const s = { type: 'linear', baseLr: 1e-3, warmupSteps: 10, totalSteps: 110 } as const;
    expect(learningRate(s, 0)).toBe(0);
    expect(learningRate(s, 5)).toBeCloseTo(5e-4, 15);
    expect(learningRate(s, 10)).toBeCloseTo(1e-3, 15);
    // (110 - 60) / (110 - 10) = 0.5; (110 - 85) / 100 = 0.25.
    expect(learningRate(s, 60)).toBeCloseTo(5e-4, 15);
    expect(learningRate(s, 85)).toBeCloseTo(2.5e-4, 15);
    expect(learningRate(s, 109)).toBeCloseTo(1e-5, 15);
    expect(learningRate(s, 110)).toBe(0);
    expect(learningRate(s, 200)).toBe(0);
  });

  it('linear without warm-up starts at the peak', () => {
    const s = { type: 'linear', baseLr: 1, totalSteps: 4 } as const;
    expect([0, 1, 2, 3, 4].map((t) => learningRate(s, t))).toEqual([1, 0.75, 0.5, 0.25, 0]);
  });

  it('cosine: half-wave from the peak after warm-up to 0 at the end', () => {
    const s = { type: 'cosine', baseLr: 1e-3, warmupSteps: 10, totalSteps: 110 } as const;
    expect(learningRate(s, 0)).toBe(0);
    expect(learningRate(s, 2)).toBeCloseTo(2e-4, 15);
    expect(learningRate(s, 10)).toBeCloseTo(1e-3, 15);
    // progress 0.5: 0.5 (1 + cos(pi/2)) = 0.5; progress 0.25: 0.5 (1 + sqrt(2)/2) = 0.853553...
    expect(learningRate(s, 60)).toBeCloseTo(5e-4, 15);
    expect(lrMultiplier(s, 35)).toBeCloseTo(0.8535533905932737, 14);
    expect(lrMultiplier(s, 85)).toBeCloseTo(0.1464466094067262, 14);
    expect(learningRate(s, 110)).toBeCloseTo(0, 18);
    // As in transformers, progress is not clamped past the end: 0.5 (1 + cos(1.5 pi)) = 0.5.
    expect(lrMultiplier(s, 160)).toBeCloseTo(0.5, 14);
  });

  it('needs totalSteps for decaying schedules; warmup_ratio rounds up', () => {
    expect(() => learningRate({ type: 'linear', baseLr: 1, warmupSteps: 2 }, 5)).toThrow(RangeError);
    expect(warmupStepsFromRatio(0.1, 95)).toBe(10);
    expect(warmupStepsFromRatio(0, 95)).toBe(0);
  });
});
