// The reward corpus the exported TRL job is checked against (test/fixtures/trl-bridge/reward-corpus.json;
// scripts/check-reward-parity.py runs the job's rewards.py on it): it must still be what our rewards
// give, so a change to them fails here until the corpus is written again and the parity rechecked.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Box } from '../../../src/data/box-format.ts';
import type { BoxSpace, ImageFrame } from '../../../src/grpo/rewards/answer.ts';
import { REWARDS } from '../../../src/grpo/rewards/rewards.ts';

interface Case {
  completion: string;
  prefill: string;
  box: Box;
  frame: ImageFrame;
  space: BoxSpace;
  rewards: { grounding: number[]; iou: number; format: number };
}

const corpus: { iou_thresholds: number[]; cases: Case[] } = JSON.parse(
  readFileSync(new URL('../../fixtures/trl-bridge/reward-corpus.json', import.meta.url), 'utf8'),
);

describe('the TRL reward corpus', () => {
  it('covers every outcome', () => {
    const kinds = new Set(corpus.cases.map((c) => `${c.rewards.grounding[0]}${c.rewards.format}`));
    expect(kinds).toEqual(new Set(['00', '01', '10', '11']));
    expect(corpus.cases.some((c) => c.rewards.iou > 0 && c.rewards.iou < 1)).toBe(true);
    expect(new Set(corpus.cases.map((c) => c.space))).toEqual(
      new Set(['pixels', 'input-pixels', 'norm1000', 'norm1']),
    );
  });

  it('holds what our rewards give', () => {
    for (const c of corpus.cases) {
      const input = {
        completion: c.completion,
        prefill: c.prefill,
        box: c.box,
        frame: c.frame,
        space: c.space,
      };
      const at = (name: string, iouThreshold: number) => REWARDS.get(name)!(input, { iouThreshold });
      expect(
        corpus.iou_thresholds.map((t) => at('grounding', t)),
        c.completion,
      ).toEqual(c.rewards.grounding);
      expect(at('iou', 0.5), c.completion).toBe(c.rewards.iou);
      expect(at('format', 0.5), c.completion).toBe(c.rewards.format);
    }
  });
});
