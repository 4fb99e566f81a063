// Tests of the answer parser (every form, malformed and hostile answers, which answer wins), the
// mapping between box spaces and original pixels (values worked out by hand), IoU and the answer writer.
import { describe, expect, it } from 'vitest';
import type { Box } from '../../../src/data/box-format.ts';
import { formatAnswer } from '../../../src/data/synthetic.ts';
import {
  ANSWER_FORMS,
  BOX_SPACES,
  formatBoxAnswer,
  fromOriginalPixels,
  type ImageFrame,
  iou,
  parseAnswer,
  toOriginalPixels,
} from '../../../src/grpo/rewards/answer.ts';
import { smartResize } from '../../../src/model/image-processor.ts';

// A 640x480 image; smart_resize makes the model input 644x476.
const FRAME: ImageFrame = { width: 640, height: 480, inputWidth: 644, inputHeight: 476 };

describe('parseAnswer', () => {
  it('reads every answer form', () => {
    const cases: [string, Box, string][] = [
      ['<think>a</think><answer>[10, 20, 30, 40]</answer>', [10, 20, 30, 40], 'list'],
      ['<answer>[10,20,30,40]</answer>', [10, 20, 30, 40], 'list'],
      ['<answer>[1.5, -2, +3.25, .5]</answer>', [1.5, -2, 3.25, 0.5], 'list'],
      ['<answer>[1e2, 2E1, 3., 4]</answer>', [100, 20, 3, 4], 'list'],
      ['<answer> [[1, 2, 3, 4]] </answer>', [1, 2, 3, 4], 'list'],
      ['<answer>{"bbox": [1, 2, 3, 4]}</answer>', [1, 2, 3, 4], 'bbox'],
      ["<answer>{'bbox': [1, 2, 3, 4]}</answer>", [1, 2, 3, 4], 'bbox'],
      ['<answer>{"bbox_2d": [1, 2, 3, 4]}</answer>', [1, 2, 3, 4], 'bbox_2d'],
      ['<answer>[{"bbox_2d": [1, 2, 3, 4], "label": "cat"}]</answer>', [1, 2, 3, 4], 'bbox_2d'],
      [
        '<answer>```json\n[\n\t{"bbox_2d": [12, 34, 56, 78], "label": "the sign"}\n]\n```</answer>',
        [12, 34, 56, 78],
        'bbox_2d',
      ],
      [
        '<answer><|object_ref_start|>the sign<|object_ref_end|><|box_start|>(100,200),(300,400)<|box_end|></answer>',
        [100, 200, 300, 400],
        'qwen2vl',
      ],
      [
        '<answer><|box_start|>( 100 , 200 ) , ( 300 , 400 )<|box_end|></answer>',
        [100, 200, 300, 400],
        'qwen2vl',
      ],
    ];
    for (const [completion, box, form] of cases) {
      expect(parseAnswer(completion), completion).toEqual({ box, form });
    }
  });

  it('reads the whole completion when there is no closed <answer> block', () => {
    expect(parseAnswer('The box is [1, 2, 3, 4].').box).toEqual([1, 2, 3, 4]);
    expect(parseAnswer('<think>hm</think><answer>[1, 2, 3, 4]').box).toEqual([1, 2, 3, 4]);
    expect(parseAnswer('<|box_start|>(1,2),(3,4)<|box_end|>').box).toEqual([1, 2, 3, 4]);
  });

  it('takes the first answer block and the first box in it', () => {
    const first = (c: string) => parseAnswer(c).box;
    expect(first('<think>near [0, 0, 9, 9]</think><answer>[1, 2, 3, 4]</answer>')).toEqual([1, 2, 3, 4]);
    expect(first('<answer>[1, 2, 3, 4]</answer><answer>[5, 6, 7, 8]</answer>')).toEqual([1, 2, 3, 4]);
    expect(first('<answer><answer>[1, 2, 3, 4]</answer>[5, 6, 7, 8]</answer>')).toEqual([1, 2, 3, 4]);
    expect(first('<answer>[1, 2, 3, 4] or [5, 6, 7, 8]</answer>')).toEqual([1, 2, 3, 4]);
    expect(first('<answer>[{"bbox_2d": [1, 2, 3, 4]}, {"bbox_2d": [5, 6, 7, 8]}]</answer>')).toEqual([
      1, 2, 3, 4,
    ]);
    expect(first('<answer>[5, 5, 5, 5] {"bbox": [1, 2, 3, 4]}</answer>')).toEqual([5, 5, 5, 5]);
    expect(first('<answer><|box_start|>(1,2),(3,4)<|box_end|> [5, 6, 7, 8]</answer>')).toEqual([1, 2, 3, 4]);
    // An empty first block is the answer: no falling back to a later one.
    expect(parseAnswer('<answer></answer><answer>[1, 2, 3, 4]</answer>').box).toBeNull();
  });

  it('keeps inverted and negative boxes (the reward scores them)', () => {
    expect(parseAnswer('<answer>[30, 40, 10, 20]</answer>').box).toEqual([30, 40, 10, 20]);
    expect(parseAnswer('<answer>[-5, -10, 20, 30]</answer>').box).toEqual([-5, -10, 20, 30]);
  });

  it('gives no box and says why for malformed answers', () => {
    const cases: [string, RegExp][] = [
      ['<answer>[1, 2, 3]</answer>', /expected 4 numbers, found 3/],
      ['<answer>[1, 2, 3, 4, 5]</answer>', /expected 4 numbers, found 5/],
      ['<answer>[]</answer>', /expected 4 numbers, found 0/],
      ['<answer>[1 2 3 4]</answer>', /expected 4 numbers, found 1/],
      ['<answer>[1, 2, 3, NaN]</answer>', /"NaN" is not a number/],
      ['<answer>[1, 2, Infinity, 4]</answer>', /"Infinity" is not a number/],
      ['<answer>[1e400, 0, 1, 1]</answer>', /"1e400" is out of range/],
      ['<answer>[0, 0, 1, -1e999]</answer>', /"-1e999" is out of range/],
      ['<answer>{"bbox_2d": [1, 2, "3", 4]}</answer>', /"\\"3\\"" is not a number/],
      ['<answer>[١, ٢, ٣, ٤]</answer>', /is not a number/],
      ['<answer>[１, ２, ３, ４]</answer>', /is not a number/],
      ['<answer>［1, 2, 3, 4］</answer>', /no box in the answer/],
      ['<answer>the red circle</answer>', /no box in the answer/],
      ['I cannot see it.', /no box in the completion/],
      ['<answer></answer>', /empty answer/],
      ['<think>x</think><answer> \n </answer>', /empty answer/],
      ['', /empty completion/],
      ['<answer><|box_start|>(1,2)<|box_end|></answer>', /expected \(x1,y1\),\(x2,y2\)/],
      ['<answer><|box_start|>(1,2,3),(4)<|box_end|></answer>', /expected \(x1,y1\),\(x2,y2\)/],
      ['<answer><|box_start|>(1,2),(3,x)<|box_end|></answer>', /"x" is not a number/],
    ];
    for (const [completion, why] of cases) {
      const parsed = parseAnswer(completion);
      expect(parsed.box, completion).toBeNull();
      expect(parsed.error, completion).toMatch(why);
    }
    expect(parseAnswer('<answer>{"bbox": [1, 2]}</answer>').form).toBe('bbox');
    expect(parseAnswer('<answer>text</answer>').form).toBeNull();
  });
});

describe('box spaces', () => {
  it('uses the input size smart_resize gives a 640x480 image', () => {
    expect(smartResize(480, 640)).toEqual([FRAME.inputHeight, FRAME.inputWidth]);
  });

  it('maps each space to original pixels (worked out by hand)', () => {
    expect(toOriginalPixels([160, 120, 320, 240], 'pixels', FRAME)).toEqual([160, 120, 320, 240]);
    // 161 * 640 / 644 = 160, 119 * 480 / 476 = 120, 322 * 640 / 644 = 320, 238 * 480 / 476 = 240
    expect(toOriginalPixels([161, 119, 322, 238], 'input-pixels', FRAME)).toEqual([160, 120, 320, 240]);
    expect(toOriginalPixels([250, 500, 750, 1000], 'norm1000', FRAME)).toEqual([160, 240, 480, 480]);
    expect(toOriginalPixels([0.25, 0.5, 0.75, 1], 'norm1', FRAME)).toEqual([160, 240, 480, 480]);
    // Nothing is clamped.
    expect(toOriginalPixels([-0.5, 0, 1.5, 2], 'norm1', FRAME)).toEqual([-320, 0, 960, 960]);
    expect(() => toOriginalPixels([1, 2, 3], 'pixels', FRAME)).toThrow(RangeError);
  });

  it('maps original pixels back, rounded to integers (norm1: 3 decimals)', () => {
    const box: Box = [160, 120, 320, 240];
    expect(fromOriginalPixels(box, 'pixels', FRAME)).toEqual([160, 120, 320, 240]);
    expect(fromOriginalPixels(box, 'input-pixels', FRAME)).toEqual([161, 119, 322, 238]);
    expect(fromOriginalPixels(box, 'norm1000', FRAME)).toEqual([250, 250, 500, 500]);
    expect(fromOriginalPixels(box, 'norm1', FRAME)).toEqual([0.25, 0.25, 0.5, 0.5]);
    // 100 / 640 * 1000 = 156.25, 101 / 640 * 1000 = 157.8125; 100 / 640 = 0.15625
    expect(fromOriginalPixels([100, 0, 101, 480], 'norm1000', FRAME)).toEqual([156, 0, 158, 1000]);
    expect(fromOriginalPixels([100, 0, 101, 480], 'norm1', FRAME)).toEqual([0.156, 0, 0.158, 1]);
    expect(fromOriginalPixels([10.4, 0, 20.6, 1], 'pixels', FRAME)).toEqual([10, 0, 21, 1]);
    expect(Object.is(fromOriginalPixels([-0.2, 0, 1, 1], 'pixels', FRAME)[0], 0)).toBe(true); // not -0
  });

  it('round-trips within half a unit of each space', () => {
    const box: Box = [37.3, 91.7, 402.2, 300.9];
    for (const space of BOX_SPACES) {
      const back = toOriginalPixels(fromOriginalPixels(box, space, FRAME), space, FRAME);
      const unit = { pixels: 1, 'input-pixels': 640 / 644, norm1000: 0.64, norm1: 0.64 }[space];
      for (let i = 0; i < 4; i++) expect(Math.abs(back[i]! - box[i]!)).toBeLessThanOrEqual(unit / 2 + 1e-9);
    }
  });
});

describe('iou', () => {
  it('matches values worked out by hand', () => {
    const gt: Box = [0, 0, 100, 100];
    expect(iou(gt, [0, 0, 100, 100])).toBe(1);
    expect(iou(gt, [50, 0, 150, 100])).toBeCloseTo(1 / 3, 15); // 5000 / 15000
    expect(iou(gt, [25, 25, 75, 75])).toBe(0.25); // 2500 / 10000
    expect(iou(gt, [0, 0, 50, 100])).toBe(0.5);
    expect(iou(gt, [-50, 0, 50, 100])).toBeCloseTo(1 / 3, 15);
    expect(iou(gt, [200, 200, 300, 300])).toBe(0);
    expect(iou(gt, [100, 0, 200, 100])).toBe(0); // touching edges: half-open rectangles
    expect(iou([50, 50, 150, 150], gt)).toBe(iou(gt, [50, 50, 150, 150])); // 2500 / 17500
    expect(iou(gt, [50, 50, 150, 150])).toBeCloseTo(1 / 7, 15);
  });

  it('gives 0 for inverted, degenerate and non-finite boxes', () => {
    const gt: Box = [0, 0, 100, 100];
    expect(iou(gt, [100, 100, 0, 0])).toBe(0);
    expect(iou(gt, [60, 0, 40, 100])).toBe(0);
    expect(iou([5, 5, 5, 10], [5, 5, 5, 10])).toBe(0); // union 0
    expect(iou(gt, [0, 0, Number.NaN, 100])).toBe(0);
    expect(iou(gt, [0, 0, Number.POSITIVE_INFINITY, 100])).toBe(0);
    expect(iou([-1e308, -1e308, 1e308, 1e308], [-1e308, -1e308, 1e308, 1e308])).toBe(0); // area overflows
  });
});

describe('formatBoxAnswer', () => {
  it('writes each form', () => {
    const box = [1, 2.5, 30, -4];
    expect(formatBoxAnswer('t', box, 'list')).toBe('<think>t</think><answer>[1, 2.5, 30, -4]</answer>');
    expect(formatBoxAnswer('t', box, 'bbox')).toBe(
      '<think>t</think><answer>{"bbox": [1, 2.5, 30, -4]}</answer>',
    );
    expect(formatBoxAnswer('t', box, 'bbox_2d')).toBe(
      '<think>t</think><answer>{"bbox_2d": [1, 2.5, 30, -4]}</answer>',
    );
    expect(formatBoxAnswer('t', box, 'qwen2vl')).toBe(
      '<think>t</think><answer><|box_start|>(1,2.5),(30,-4)<|box_end|></answer>',
    );
    expect(() => formatBoxAnswer('t', [1, 2, 3], 'list')).toThrow(RangeError);
  });

  it('writes the list form as the synthetic generator does, and every form parses back', () => {
    const box: Box = [12, 34, 56, 78];
    expect(formatBoxAnswer('thought', box, 'list')).toBe(formatAnswer('thought', box));
    for (const form of ANSWER_FORMS) {
      expect(parseAnswer(formatBoxAnswer('x', [0.125, -3, 1e21, 7], form))).toEqual({
        box: [0.125, -3, 1e21, 7],
        form,
      });
    }
  });
});
