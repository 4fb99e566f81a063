// Writes test/fixtures/trl-bridge/reward-corpus.json: completions of every kind a policy writes (good and
// shifted boxes, every answer form and box space, malformed numbers and forms, whitespace JavaScript and
// Python disagree on, stray and trailing special tokens, prefills) with their grounding, iou and format
// rewards as src/grpo/rewards/ gives them. The exported TRL job's rewards.py must give the same values:
// scripts/check-reward-parity.py runs it on this file. Deterministic.
//
//   node --import ./bin/register.js scripts/make-reward-corpus.ts [OUT]

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Box } from '../src/data/box-format.ts';
import {
  ANSWER_FORMS,
  BOX_SPACES,
  type BoxSpace,
  formatBoxAnswer,
  fromOriginalPixels,
  type ImageFrame,
} from '../src/grpo/rewards/answer.ts';
import { REWARDS } from '../src/grpo/rewards/rewards.ts';

const out = process.argv[2] ?? 'test/fixtures/trl-bridge/reward-corpus.json';

interface Case {
  completion: string;
  prefill: string;
  box: Box;
  frame: ImageFrame;
  space: BoxSpace;
  /** grounding at each of THRESHOLDS. */
  rewards: { grounding: number[]; iou: number; format: number };
}

const THRESHOLDS = [0.5, 0.75];

const PREFILL = 'Let me analyze this image.\n<think>';
const FRAMES: [ImageFrame, Box][] = [
  [{ width: 640, height: 480, inputWidth: 644, inputHeight: 476 }, [100, 120, 300, 360]],
  [{ width: 84, height: 56, inputWidth: 84, inputHeight: 56 }, [10.5, 4, 40, 50.25]],
  [{ width: 1000, height: 750, inputWidth: 1008, inputHeight: 756 }, [0, 0, 999, 749]],
  [{ width: 33, height: 500, inputWidth: 28, inputHeight: 504 }, [3, 200, 30, 260]],
];

const cases: Case[] = [];
function add(completion: string, box: Box, frame: ImageFrame, space: BoxSpace, prefill = PREFILL): void {
  const input = { completion, prefill, box, frame, space };
  const score = (name: string, iouThreshold = 0.5) => REWARDS.get(name)!(input, { iouThreshold })!;
  cases.push({
    completion,
    prefill,
    box,
    frame,
    space,
    rewards: {
      grounding: THRESHOLDS.map((t) => score('grounding', t)),
      iou: score('iou'),
      format: score('format'),
    },
  });
}

const shift = (b: Box, dx: number, dy: number): Box => [b[0] + dx, b[1] + dy, b[2] + dx, b[3] + dy];

// Every form and space: the ground truth as the model would write it, shifted, and far off.
for (const [frame, gt] of FRAMES) {
  for (const space of BOX_SPACES) {
    for (const form of ANSWER_FORMS) {
      for (const b of [gt, shift(gt, 12, -7), shift(gt, 500, 500)]) {
        const written = fromOriginalPixels(b, space, frame);
        add(
          ` The red circle is at the left.</think>\n<answer>${formatBoxAnswer('', written, form).split('<answer>')[1]}`,
          gt,
          frame,
          space,
        );
      }
    }
  }
}

// Malformed and edge answers, in pixels on the first frame.
const [frame, gt] = FRAMES[0]!;
const answers = [
  '[100, 120, 300, 360]',
  '[100,120,300,360]',
  '[ 100 , 120 , 300 , 360 ]',
  '[100.0, 120., 300.5e0, 3.6e2]',
  '[+100, +120, 300, 360]',
  '[.5, 120, 300, 360]',
  '[100, 120, 300]',
  '[100, 120, 300, 360, 5]',
  '[]',
  '[100, 120, 300, 1e400]',
  '[100, 120, 300, -1e400]',
  '[100, 120, 300, NaN]',
  '[100, 120, 300, Infinity]',
  '[0x64, 120, 300, 360]',
  '[1_00, 120, 300, 360]',
  '[١٠٠, 120, 300, 360]',
  '[100, 120, 300, 360.]',
  '[300, 360, 100, 120]',
  '[100, 120, 100, 360]',
  '[-50, -50, 50, 50]',
  '[100,\u00a0120, 300, 360]',
  '[100,\ufeff120, 300, 360]',
  '[100,\u001c120, 300, 360]',
  '[100,\u0085120, 300, 360]',
  '[100,\u2003120, 300, 360]',
  '[100,\n120,\t300,\r360]',
  '{"bbox_2d": [100, 120, 300, 360]}',
  "{'bbox': [100, 120, 300, 360]}",
  '{"bbox_2d" :\u00a0[100, 120, 300, 360]}',
  '{"bbox_2d":\ufeff[100, 120, 300, 360]}',
  '{"bbox_2d": [100, 120, 300]}',
  '{"label": "circle", "bbox_2d": [100, 120, 300, 360]}',
  '[{"bbox_2d": [100, 120, 300, 360]}]',
  '<|box_start|>(100,120),(300,360)<|box_end|>',
  '<|box_start|>( 100 , 120 ) , ( 300 , 360 )<|box_end|>',
  '<|box_start|>(100,120),(300,360),(1,1)<|box_end|>',
  '<|box_start|>(100,120,300,360)<|box_end|>',
  '<|box_start|>\ufeff(100,120),(300,360)<|box_end|>',
  '<|box_start|>\u0085(100,120),(300,360)<|box_end|>',
  '<|box_start|>(100,120),(300,360)',
  '[5, 5, 6, 6] then {"bbox_2d": [100, 120, 300, 360]}',
  '{"bbox_2d": [100, 120, 300, 360]} then [5, 5, 6, 6]',
  '<|box_start|>(100,120),(300,360)<|box_end|> [5, 5, 6, 6]',
  '[[100, 120, 300, 360]]',
  'the box is 100, 120, 300, 360',
  '',
  '   ',
  '\ufeff',
  '\u0085',
];
for (const a of answers) add(` Found it.</think><answer>${a}</answer>`, gt, frame, 'pixels');

// The format check and where the answer is read from.
const formats = [
  ' Found it.</think><answer>[100, 120, 300, 360]</answer>',
  ' Found it.</think> \n <answer>[100, 120, 300, 360]</answer>',
  ' Found it.</think>\u0085<answer>[100, 120, 300, 360]</answer>',
  ' Found it.</think>\u001c<answer>[100, 120, 300, 360]</answer>',
  ' Found it.</think>\ufeff<answer>[100, 120, 300, 360]</answer>',
  ' Found it.</think><answer>[100, 120, 300, 360]</answer> ',
  ' Found it.</think><answer>[100, 120, 300, 360]</answer>\n',
  ' Found it.</think><answer>[100, 120, 300, 360]</answer><|im_end|>',
  ' Found it.</think><answer>[100, 120, 300, 360]</answer><|im_end|><|endoftext|>',
  ' Found it.</think><answer>[100, 120, 300, 360]</answer><|im_end|>\n',
  ' Found it.</think><answer>[100, 120, 300, 360]</answer>x',
  ' Found it.<answer>[100, 120, 300, 360]</answer>',
  ' Found</think> it.</think><answer>[100, 120, 300, 360]</answer>',
  ' Found it.</think><answer>[100, 120, 300, 360]</answer><answer>[1, 1, 2, 2]</answer>',
  ' Found it.</think><answer>[100, 120, 300, 360]',
  ' Found it.</think>[100, 120, 300, 360]',
  ' Found it.</think><answer></answer>',
  '<think>again</think><answer>[100, 120, 300, 360]</answer>',
  ' line one\nline two</think>\n<answer>\n[100, 120, 300, 360]\n</answer>',
  ' Found it.</think><answer>[100, 120, 300, 360]</answer >',
  ' 😀 found it.</think><answer>[100, 120, 300, 360]</answer>',
];
for (const c of formats) {
  add(c, gt, frame, 'pixels');
  add(c, gt, frame, 'pixels', '');
  add(c, gt, frame, 'pixels', '<think>');
  add(c, gt, frame, 'pixels', 'Think first: <think>a</think> then <think>');
}

mkdirSync(dirname(out), { recursive: true });
// One case per line: small in git, and diffs name the cases that changed.
const head = `{"recipe": "scripts/make-reward-corpus.ts", "iou_thresholds": ${JSON.stringify(THRESHOLDS)}, "cases": [\n`;
writeFileSync(out, `${head}${cases.map((c) => JSON.stringify(c)).join(',\n')}\n]}\n`);
process.stderr.write(`${cases.length} cases -> ${out}\n`);
