// Tests of the reward functions: grounding and IoU for answers in every form and space (expected IoU
// worked out by hand), the threshold boundary, the tutorial's format check and its edge cases, the
// registry, and a seeded fuzz showing no completion string makes a reward throw.
import { describe, expect, it } from 'vitest';
import type { Box } from '../../../src/data/box-format.ts';
import {
  ANSWER_FORMS,
  BOX_SPACES,
  type BoxSpace,
  formatBoxAnswer,
  type ImageFrame,
} from '../../../src/grpo/rewards/answer.ts';
import {
  REWARDS,
  type RewardInput,
  registerReward,
  rewardNames,
  scoreCompletion,
} from '../../../src/grpo/rewards/rewards.ts';
import { uniformStream } from '../../../src/model/random.ts';

const FRAME: ImageFrame = { width: 640, height: 480, inputWidth: 644, inputHeight: 476 };
const PREFILL = 'Let me analyze this image.\n<think>';
const GT: Box = [160, 120, 320, 240];

const input = (completion: string, more: Partial<RewardInput> = {}): RewardInput => ({
  completion,
  prefill: PREFILL,
  box: GT,
  frame: FRAME,
  space: 'pixels',
  ...more,
});
/** A completion after the prefill: the answer form's text without its leading <think>. */
const completionOf = (box: readonly number[], form: (typeof ANSWER_FORMS)[number]): string =>
  formatBoxAnswer('The sign is left of centre.', box, form).slice('<think>'.length);
const reward = (name: string, i: RewardInput, iouThreshold = 0.5): number | null =>
  REWARDS.get(name)!(i, { iouThreshold });

// GT [160, 120, 320, 240] written in each space, and the same box moved right by half its width
// ([240, 120, 400, 240] in pixels: IoU 80 * 120 / (2 * 160 * 120 - 80 * 120) = 1/3).
const IN_SPACE: Record<BoxSpace, { same: number[]; half: number[] }> = {
  pixels: { same: [160, 120, 320, 240], half: [240, 120, 400, 240] },
  'input-pixels': { same: [161, 119, 322, 238], half: [241.5, 119, 402.5, 238] }, // x * 644 / 640
  norm1000: { same: [250, 250, 500, 500], half: [375, 250, 625, 500] },
  norm1: { same: [0.25, 0.25, 0.5, 0.5], half: [0.375, 0.25, 0.625, 0.5] },
};

describe('grounding and iou rewards', () => {
  it('score answers in every form and every space', () => {
    for (const space of BOX_SPACES) {
      for (const form of ANSWER_FORMS) {
        const same = input(completionOf(IN_SPACE[space].same, form), { space });
        const half = input(completionOf(IN_SPACE[space].half, form), { space });
        const where = `${space} ${form}`;
        expect(scoreCompletion(['grounding', 'iou', 'format'], same).rewards, where).toEqual([1, 1, 1]);
        expect(reward('iou', half), where).toBeCloseTo(1 / 3, 12);
        expect(reward('grounding', half), where).toBe(0);
        expect(reward('grounding', half, 0.3), where).toBe(1);
      }
    }
  });

  it('reads the answer in the configured space', () => {
    // norm1000 numbers read as pixels: [250, 250, 500, 500] misses GT (y from 250 > 240).
    const c = completionOf(IN_SPACE.norm1000.same, 'list');
    expect(reward('iou', input(c, { space: 'pixels' }))).toBe(0);
    const scored = scoreCompletion(['iou'], input(c, { space: 'norm1000' }));
    expect(scored.boxPixels).toEqual(GT);
    expect(scored.parsed).toEqual({ box: [250, 250, 500, 500], form: 'list' });
  });

  it('counts IoU exactly at the threshold', () => {
    const gt: Box = [0, 0, 100, 100];
    const at = input('r</think><answer>[0, 0, 50, 100]</answer>', { box: gt }); // IoU 0.5
    const below = input('r</think><answer>[0, 0, 49, 100]</answer>', { box: gt }); // IoU 0.49
    expect(reward('iou', at)).toBe(0.5);
    expect(reward('grounding', at)).toBe(1);
    expect(reward('grounding', below)).toBe(0);
    expect(reward('grounding', below, 0.49)).toBe(1);
    expect(scoreCompletion(['grounding'], below, { iouThreshold: 0.49 }).rewards).toEqual([1]);
    expect(scoreCompletion(['grounding'], at, {}).rewards).toEqual([1]);
  });

  it('scores negative, inverted, overflowing and missing boxes', () => {
    const gt: Box = [0, 0, 100, 100];
    const score = (answer: string) => scoreCompletion(['grounding', 'iou'], input(answer, { box: gt }));
    expect(score('r</think><answer>[-50, 0, 50, 100]</answer>').iou).toBeCloseTo(1 / 3, 15);
    expect(score('r</think><answer>[100, 100, 0, 0]</answer>')).toMatchObject({ rewards: [0, 0], iou: 0 });
    for (const bad of [
      'r</think><answer>[1e400, 0, 1, 1]</answer>',
      'r</think><answer></answer>',
      'no box',
    ]) {
      const s = score(bad);
      expect(s).toMatchObject({ rewards: [0, 0], iou: null, boxPixels: null });
      expect(s.parsed.error).toBeTruthy();
    }
  });
});

describe('format reward', () => {
  const fmt = (completion: string, prefill = PREFILL): number | null =>
    reward('format', input(completion, { prefill }));

  it('passes the tutorial form', () => {
    expect(fmt('r</think><answer>[1, 2, 3, 4]</answer>')).toBe(1);
    expect(fmt('line 1\nline 2</think>\n\n<answer>\n[1, 2, 3, 4]\n</answer>')).toBe(1);
    expect(fmt('</think><answer></answer>')).toBe(1); // contents are not checked
    expect(fmt('r</think> \t<answer>a</answer>')).toBe(1);
  });

  it('fails what re.fullmatch rejects', () => {
    expect(fmt('r<answer>a</answer>')).toBe(0); // missing </think>
    expect(fmt('r</think>[1, 2, 3, 4]')).toBe(0); // missing <answer>
    expect(fmt('r</think><answer>a')).toBe(0); // missing </answer>
    expect(fmt('r</think>so <answer>a</answer>')).toBe(0); // text between the tags
    expect(fmt('r</think><answer>a</answer> done')).toBe(0); // text after </answer>
    expect(fmt('r</think><answer>a</answer>\n')).toBe(0); // even a trailing newline
    expect(fmt('r</think><answer>a</answer> ')).toBe(0);
    expect(fmt('')).toBe(0);
  });

  it("uses Python's whitespace between </think> and <answer>", () => {
    expect(fmt('r</think>\x1c\u0085\u3000<answer>a</answer>')).toBe(1);
    expect(fmt('r</think>\ufeff<answer>a</answer>')).toBe(0);
  });

  it('puts back the prefill from its last <think> only', () => {
    expect(fmt('<think>r</think><answer>a</answer>', 'Let me analyze this image.\n')).toBe(1);
    expect(fmt('r</think><answer>a</answer>', 'Let me analyze this image.\n')).toBe(0);
    expect(fmt('<think>r</think><answer>a</answer>', '')).toBe(1);
    expect(fmt(' closely</think><answer>a</answer>', 'Intro\n<think>Looking')).toBe(1);
  });

  it('ignores end-of-turn tokens left at the end of a completion', () => {
    expect(fmt('r</think><answer>a</answer><|im_end|>')).toBe(1);
    expect(fmt('r</think><answer>a</answer><|im_end|><|endoftext|>')).toBe(1);
    expect(fmt('r</think><answer>a</answer>\n<|im_end|>')).toBe(0);
  });
});

describe('reward registry', () => {
  it('lists the built-in rewards', () => {
    expect(rewardNames()).toEqual(expect.arrayContaining(['grounding', 'iou', 'format']));
  });

  it('adds a reward with one function, which scoreCompletion then runs', () => {
    registerReward('test-short', (i) => (i.completion.length < 40 ? 1 : 0));
    registerReward('test-unscorable', () => null);
    expect(rewardNames()).toContain('test-short');
    const scored = scoreCompletion(
      ['test-short', 'format', 'test-unscorable'],
      input('r</think><answer>[1, 2, 3, 4]</answer>'),
    );
    expect(scored.rewards).toEqual([1, 1, null]);
  });

  it('refuses duplicate and empty names, and unknown names when scoring', () => {
    expect(() => registerReward('grounding', () => 0)).toThrow(/already registered/);
    registerReward('test-once', () => 0);
    expect(() => registerReward('test-once', () => 1)).toThrow(/already registered/);
    expect(() => registerReward('', () => 0)).toThrow(/non-empty/);
    expect(() => registerReward('  ', () => 0)).toThrow(/non-empty/);
    expect(() => scoreCompletion(['grounding', 'nope'], input('x'))).toThrow(
      /unknown reward "nope".*grounding/,
    );
  });
});

describe('fuzz', () => {
  const FRAGMENTS = [
    ...['<think>', '</think>', '<answer>', '</answer>', '<|box_start|>', '<|box_end|>', '<|im_end|>'],
    ...['[', ']', '{', '}', '(', ')', ',', ', ', ':', '"bbox"', '"bbox_2d"', "'bbox'", '"label"', '```json'],
    ...['1', '-2.5', '+3', '.5', '1e400', '-1e999', '1e308', 'NaN', 'Infinity', '0', '1000', 'e', '.', '-'],
    ...['[160, 120, 320, 240]', '[0.25, 0.3, 0.5, 0.5]', '{"bbox_2d": [161, 119, 322, 238]}', '[1, 2, 3]'],
    ...['<|box_start|>(250,250),(500,500)<|box_end|>', '<|box_start|>(1,2)<|box_end|>'],
    ...['\n', ' ', '\t', '\u0085', '\ufeff', '１', '［', '］', '٣', '\uD83D', '\uDE00', '😀', 'the sign'],
  ];

  it('never throws and keeps every reward within [0, 1]', () => {
    const rand = uniformStream(20240611);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const text = (max: number): string =>
      Array.from({ length: Math.floor(rand() * max) }, () => pick(FRAGMENTS)).join('');
    const frames: ImageFrame[] = [FRAME, { width: 1, height: 1, inputWidth: 28, inputHeight: 28 }];
    const seen = { box: 0, hit: 0, format: 0 };
    for (let n = 0; n < 3000; n++) {
      const shaped = `${text(6)}</think>${pick(['', '\n', ' '])}<answer>${text(8)}</answer>${text(2)}`;
      const completion = rand() < 0.5 ? text(40) : shaped;
      const prefill = pick([PREFILL, '', text(4)]);
      const i = input(completion, { prefill, space: pick(BOX_SPACES), frame: pick(frames) });
      const s = scoreCompletion(['grounding', 'iou', 'format'], i);
      for (const r of s.rewards) {
        expect(r).not.toBeNull();
        expect(r! >= 0 && r! <= 1, i.completion).toBe(true);
      }
      if (s.parsed.box === null) {
        expect(s.parsed.error).toBeTruthy();
        expect(s.iou).toBeNull();
      } else {
        expect(s.parsed.box.every(Number.isFinite)).toBe(true);
        expect(s.rewards[0]).toBe(s.iou! >= 0.5 ? 1 : 0);
        expect(s.rewards[1]).toBe(s.iou);
        seen.box++;
        if (s.iou! > 0) seen.hit++;
      }
      if (s.rewards[2] === 1) seen.format++;
    }
    // The fuzz reaches every outcome, not only the failures.
    expect(seen.box).toBeGreaterThan(300);
    expect(seen.hit).toBeGreaterThan(100);
    expect(seen.format).toBeGreaterThan(100);
  });
});
