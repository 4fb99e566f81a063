// The live charts' content: which TRL metrics each chart plots for a configuration, and the per-step
// metrics turned into aligned series with gaps where a value is absent or not finite.
import { describe, expect, it } from 'vitest';
import { chartGroups, seriesData, tickLabel } from '../../../../src/ui/training/charts/chart-series.ts';
import type { StepMetrics } from '../../../../src/ui/training/run-store.ts';

describe('chartGroups', () => {
  it('plots the total and each reward function, and KL only when beta is not 0', () => {
    const groups = chartGroups({ reward_funcs: ['grounding', 'format'], beta: 0 });
    expect(groups[0]).toEqual({
      title: 'reward',
      metrics: ['reward', 'rewards/grounding/mean', 'rewards/format/mean'],
    });
    expect(groups.map((g) => g.title)).not.toContain('KL');
    expect(groups.map((g) => g.title)).toEqual([
      'reward',
      'reward std',
      'loss',
      'clip ratio',
      'completion length',
      'grad norm',
      'learning rate',
      'tokens / s',
    ]);
    const withKl = chartGroups({ reward_funcs: ['iou'], beta: 0.04 });
    expect(withKl.find((g) => g.title === 'KL')).toEqual({ title: 'KL', metrics: ['kl'] });
  });
});

describe('seriesData', () => {
  it('aligns the metrics on the steps, null where absent or not finite', () => {
    const history: StepMetrics[] = [
      { step: 1, metrics: { reward: 1.5, loss: 0.1 } },
      { step: 2, metrics: { reward: null, loss: Number.NaN } },
      { step: 4, metrics: { reward: 2 } },
    ];
    expect(seriesData(history, ['reward', 'loss'])).toEqual([
      [1, 2, 4],
      [1.5, null, 2],
      [0.1, null, null],
    ]);
    expect(seriesData([], ['reward'])).toEqual([[], []]);
  });
});

describe('tickLabel', () => {
  it('writes small values in exponent form and others with three significant digits', () => {
    expect([0, 1e-4, 5e-5, -0.002, 0.05, 1.5, 2206.4, 123456].map(tickLabel)).toEqual([
      '0',
      '1e-4',
      '5e-5',
      '-2e-3',
      '0.05',
      '1.5',
      '2210',
      '123000',
    ]);
  });
});
