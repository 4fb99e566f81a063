// Arrow keys through the batch's prompts and completions, stopping at the ends.
import { describe, expect, it } from 'vitest';
import { nextSelection } from '../../../../src/ui/training/inspector/keyboard.ts';

const batch = [{ completions: [1, 2, 3] }, { completions: [1, 2] }, { completions: [1, 2, 3, 4] }];

describe('nextSelection', () => {
  it('moves between prompts with left / right, to their first completion', () => {
    expect(nextSelection(null, 'ArrowRight', batch)).toEqual({ prompt: 1, completion: 0 });
    expect(nextSelection({ prompt: 1, completion: 1 }, 'ArrowRight', batch)).toEqual({
      prompt: 2,
      completion: 0,
    });
    expect(nextSelection({ prompt: 2, completion: 3 }, 'ArrowRight', batch)).toEqual({
      prompt: 2,
      completion: 3,
    });
    expect(nextSelection({ prompt: 2, completion: 3 }, 'ArrowLeft', batch)).toEqual({
      prompt: 1,
      completion: 0,
    });
    expect(nextSelection({ prompt: 0, completion: 2 }, 'ArrowLeft', batch)).toEqual({
      prompt: 0,
      completion: 2,
    });
  });

  it('moves between completions with up / down, stopping at the ends', () => {
    expect(nextSelection(null, 'ArrowDown', batch)).toEqual({ prompt: 0, completion: 1 });
    expect(nextSelection({ prompt: 1, completion: 1 }, 'ArrowDown', batch)).toEqual({
      prompt: 1,
      completion: 1,
    });
    expect(nextSelection({ prompt: 1, completion: 1 }, 'ArrowUp', batch)).toEqual({
      prompt: 1,
      completion: 0,
    });
    expect(nextSelection({ prompt: 1, completion: 0 }, 'ArrowUp', batch)).toEqual({
      prompt: 1,
      completion: 0,
    });
  });

  it('clamps a selection left over from a larger batch, and ignores other keys', () => {
    expect(nextSelection({ prompt: 7, completion: 9 }, 'ArrowUp', batch)).toEqual({
      prompt: 2,
      completion: 2,
    });
    expect(nextSelection({ prompt: 0, completion: 0 }, 'Enter', batch)).toBeUndefined();
    expect(nextSelection({ prompt: 0, completion: 0 }, 'ArrowDown', [])).toBeNull();
  });
});
