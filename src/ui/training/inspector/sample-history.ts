// One sample's history across the run: each step its prompt was drawn, the mean and best total reward
// of its G completions, their best IoU and how many kept the format, for the inspector.
import type { SampleRecord } from '../../../grpo/trainer.ts';

export interface HistoryPoint {
  step: number;
  meanReward: number | null;
  bestReward: number | null;
  bestIou: number | null;
  /** Completions whose format reward is 1 (or, without one, whose answer parsed), of `completions`. */
  formatted: number;
  completions: number;
}

const finite = (v: number | null): v is number => v !== null && Number.isFinite(v);

/** The records of sample `id`, oldest first, summarised per step. */
export function sampleHistory(records: readonly SampleRecord[], id: string): HistoryPoint[] {
  return records
    .filter((r) => r.id === id)
    .map((r) => {
      const rewards = r.completions.map((c) => c.reward).filter(finite);
      const ious = r.completions.map((c) => c.iou).filter(finite);
      return {
        step: r.step,
        meanReward: rewards.length ? rewards.reduce((a, b) => a + b, 0) / rewards.length : null,
        bestReward: rewards.length ? Math.max(...rewards) : null,
        bestIou: ious.length ? Math.max(...ious) : null,
        formatted: r.completions.filter((c) =>
          c.rewards.format === undefined ? c.parseError === null : c.rewards.format === 1,
        ).length,
        completions: r.completions.length,
      };
    });
}
