// Splitting completions into reasoning, answer, tags and other text for the inspector's highlighting.
import { describe, expect, it } from 'vitest';
import { completionParts } from '../../../../src/ui/training/inspector/completion-parts.ts';

const PREFILL = 'Let me analyze this image.\n<think>';

describe('completionParts', () => {
  it('starts inside the reasoning when the prefill opens <think>', () => {
    expect(completionParts('The cat is left.</think><answer>[1, 2, 3, 4]</answer>', PREFILL)).toEqual([
      { kind: 'think', text: 'The cat is left.' },
      { kind: 'tag', text: '</think><answer>' },
      { kind: 'answer', text: '[1, 2, 3, 4]' },
      { kind: 'tag', text: '</answer>' },
    ]);
  });

  it('reads the tags from the completion itself without a prefill', () => {
    expect(completionParts('<think>a</think> <answer>b</answer> tail')).toEqual([
      { kind: 'tag', text: '<think>' },
      { kind: 'think', text: 'a' },
      { kind: 'tag', text: '</think>' },
      { kind: 'text', text: ' ' },
      { kind: 'tag', text: '<answer>' },
      { kind: 'answer', text: 'b' },
      { kind: 'tag', text: '</answer>' },
      { kind: 'text', text: ' tail' },
    ]);
  });

  it('is not inside the reasoning when the prefill already closed it', () => {
    expect(completionParts('<answer>x</answer>', '<think>done</think>')).toEqual([
      { kind: 'tag', text: '<answer>' },
      { kind: 'answer', text: 'x' },
      { kind: 'tag', text: '</answer>' },
    ]);
  });

  it('keeps an unclosed answer and a stray closing tag without losing text', () => {
    const text = 'hm</answer> ok<answer>[1, 2';
    const parts = completionParts(text, PREFILL);
    expect(parts.map((p) => p.text).join('')).toBe(text);
    expect(parts).toEqual([
      { kind: 'think', text: 'hm' },
      { kind: 'tag', text: '</answer>' },
      { kind: 'think', text: ' ok' },
      { kind: 'tag', text: '<answer>' },
      { kind: 'answer', text: '[1, 2' },
    ]);
  });

  it('handles empty and unicode completions', () => {
    expect(completionParts('', PREFILL)).toEqual([]);
    expect(completionParts('猫は左 🐱</think>', PREFILL)).toEqual([
      { kind: 'think', text: '猫は左 🐱' },
      { kind: 'tag', text: '</think>' },
    ]);
  });
});
