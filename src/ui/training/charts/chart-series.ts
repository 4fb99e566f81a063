// What the live charts plot: groups of TRL metric names (a chart each) for a run's configuration, and a
// run's per-step metrics as uPlot's aligned data (steps, then one array per metric, null where absent).
import type { GrpoConfig } from '../../../grpo/config.ts';
import type { StepMetrics } from '../run-store.ts';

export interface ChartGroup {
  title: string;
  metrics: string[];
}

export function chartGroups(config: Pick<GrpoConfig, 'reward_funcs' | 'beta'>): ChartGroup[] {
  const groups: ChartGroup[] = [
    { title: 'reward', metrics: ['reward', ...config.reward_funcs.map((n) => `rewards/${n}/mean`)] },
    { title: 'reward std', metrics: ['reward_std'] },
    { title: 'loss', metrics: ['loss'] },
  ];
  if (config.beta !== 0) groups.push({ title: 'KL', metrics: ['kl'] });
  groups.push(
    {
      title: 'clip ratio',
      metrics: ['clip_ratio/region_mean', 'clip_ratio/low_mean', 'clip_ratio/high_mean'],
    },
    { title: 'completion length', metrics: ['completions/mean_length'] },
    { title: 'grad norm', metrics: ['grad_norm'] },
    { title: 'learning rate', metrics: ['learning_rate'] },
    { title: 'tokens / s', metrics: ['tokens_per_s/generation', 'tokens_per_s/training'] },
  );
  return groups;
}

/** The held-out evaluations' chart (from the run's evals, not its per-step metrics). */
export const EVAL_GROUP: ChartGroup = {
  title: 'held-out Acc@0.5 / mean IoU',
  metrics: ['eval/acc50', 'eval/mean_iou'],
};

export type AlignedSeries = [number[], ...(number | null)[][]];

export function seriesData(history: readonly StepMetrics[], metrics: readonly string[]): AlignedSeries {
  const steps = history.map((h) => h.step);
  const columns = metrics.map((name) =>
    history.map((h) => {
      const v = h.metrics[name];
      return v === undefined || v === null || !Number.isFinite(v) ? null : v;
    }),
  );
  return [steps, ...columns];
}

/** Axis labels that stay readable for learning rates (1e-4) and token rates (2206) alike. */
export function tickLabel(v: number): string {
  if (v === 0) return '0';
  if (Math.abs(v) < 0.01) return v.toExponential(0);
  return String(Number(v.toPrecision(3)));
}
