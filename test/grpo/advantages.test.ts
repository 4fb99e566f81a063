// Advantages, reward metrics, completion masks and completion metrics against TRL 1.13's own
// `_generate_and_score_completions` (test/fixtures/trl-grpo/advantage-cases.json, written by
// scripts/make-trl-grpo-fixtures.py with generation stubbed and reward tables chosen, None included).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { computeAdvantages, type RewardAggregation, type ScaleRewards } from '../../src/grpo/advantages.ts';
import { completionMasks, completionMetrics } from '../../src/grpo/trainer.ts';

interface AdvantageCase {
  name: string;
  config: {
    num_generations: number;
    scale_rewards_resolved: ScaleRewards;
    multi_objective_aggregation: RewardAggregation;
    reward_weights: number[] | null;
    reward_func_names: string[];
    mask_truncated_completions: boolean;
  };
  eos_token_id: number;
  pad_token_id: number;
  completion_ids: number[][];
  rewards_per_func: (number | null)[][];
  outputs: {
    advantages: number[];
    completion_mask: number[][];
    num_items_in_batch: number;
    metrics: Record<string, number | null>;
  };
}

const fixture = JSON.parse(
  readFileSync(new URL('../fixtures/trl-grpo/advantage-cases.json', import.meta.url), 'utf8'),
) as { trl_version: string; cases: AdvantageCase[] };

/** TRL computes rewards and advantages in float32: compare at its precision. */
const near = (a: number | null | undefined, b: number | null) =>
  b === null
    ? a === null
    : a !== null && a !== undefined && Math.abs(a - b) <= 2e-6 * Math.max(1, Math.abs(b));

describe(`advantages and reward metrics against TRL ${fixture.trl_version}`, () => {
  it('covers both aggregations and every scale_rewards value', () => {
    const seen = new Set(
      fixture.cases.map((c) => `${c.config.multi_objective_aggregation}/${c.config.scale_rewards_resolved}`),
    );
    for (const s of ['group', 'batch', 'none']) expect(seen.has(`sum_then_normalize/${s}`)).toBe(true);
    expect([...seen].some((k) => k.startsWith('normalize_then_sum'))).toBe(true);
  });

  for (const c of fixture.cases) {
    it(c.name, () => {
      const k = c.config;
      const r = computeAdvantages(c.rewards_per_func, {
        numGenerations: k.num_generations,
        scaleRewards: k.scale_rewards_resolved,
        aggregation: k.multi_objective_aggregation,
        weights: k.reward_weights ?? k.reward_func_names.map(() => 1),
        names: k.reward_func_names,
      });
      r.advantages.forEach((a, i) => {
        expect(near(a, c.outputs.advantages[i]!), `advantage ${i}: ${a} vs ${c.outputs.advantages[i]}`).toBe(
          true,
        );
      });
      const lengths = c.completion_ids.map((ids) => ids.length);
      const terminated = c.completion_ids.map((ids) =>
        [c.eos_token_id, c.pad_token_id].includes(ids[ids.length - 1]!),
      );
      const masks = completionMasks(lengths, terminated, k.mask_truncated_completions);
      expect(masks.numItems).toBe(c.outputs.num_items_in_batch);
      c.outputs.completion_mask.forEach((row, i) => {
        expect(row.reduce((a, b) => a + b, 0)).toBe(masks.active[i] ? lengths[i] : 0);
      });
      const ours = { ...r.metrics, ...completionMetrics(lengths, terminated) };
      for (const [name, value] of Object.entries(c.outputs.metrics)) {
        if (name === 'num_tokens') continue;
        expect(near(ours[name], value), `${name}: ${ours[name]} vs ${value}`).toBe(true);
      }
    });
  }
});
