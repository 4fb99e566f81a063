// The reward colour scale: its ends, clamping, the unscorable grey, the range a config's rewards span,
// the legend, and that every colour stands out against the dark outline drawn beneath it (WCAG contrast).
import { describe, expect, it } from 'vitest';
import {
  legendStops,
  rewardColour,
  rewardRange,
  scaleColour,
  UNSCORED_COLOUR,
} from '../../../../src/ui/training/inspector/reward-colour.ts';

const rgb = (css: string) => (css.match(/\d+/g) ?? []).map(Number);

/** WCAG 2 relative luminance of an sRGB colour. */
function luminance([r, g, b]: number[]): number {
  const lin = (v: number) => {
    const c = v / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * lin(r!) + 0.7152 * lin(g!) + 0.0722 * lin(b!);
}

describe('reward colours', () => {
  it('runs from red-pink at the lowest reward to turquoise at the highest, clamped outside', () => {
    expect(scaleColour(0)).toBe('rgb(255, 59, 107)');
    expect(scaleColour(1)).toBe('rgb(46, 230, 214)');
    expect(scaleColour(0.5)).toBe('rgb(255, 217, 61)');
    expect(scaleColour(-3)).toBe(scaleColour(0));
    expect(scaleColour(7)).toBe(scaleColour(1));
    expect(scaleColour(Number.NaN)).toBe(scaleColour(0));
  });

  it('interpolates between stops', () => {
    const [r, g, b] = rgb(scaleColour(0.125));
    expect([r, g, b]).toEqual([255, Math.round(59 + (138 - 59) * 0.5), Math.round(107 + (61 - 107) * 0.5)]);
  });

  it('has at least 4.5:1 contrast against the black outline everywhere', () => {
    for (let t = 0; t <= 1.0001; t += 0.05) {
      const contrast = (luminance(rgb(scaleColour(t))) + 0.05) / 0.05;
      expect(contrast, `t = ${t.toFixed(2)}`).toBeGreaterThanOrEqual(4.5);
    }
  });

  it('spans the weighted rewards of the config', () => {
    expect(rewardRange({ reward_funcs: ['grounding', 'format'], reward_weights: null })).toEqual({
      min: 0,
      max: 2,
    });
    expect(rewardRange({ reward_funcs: ['grounding', 'format'], reward_weights: [2, 0.5] })).toEqual({
      min: 0,
      max: 2.5,
    });
    expect(rewardRange({ reward_funcs: ['iou', 'format'], reward_weights: [1, -1] })).toEqual({
      min: -1,
      max: 1,
    });
    expect(rewardRange({ reward_funcs: [], reward_weights: null })).toEqual({ min: 0, max: 1 });
  });

  it('colours a total within the range and greys an unscorable one', () => {
    const range = { min: 0, max: 2 };
    expect(rewardColour(0, range)).toBe(scaleColour(0));
    expect(rewardColour(1, range)).toBe(scaleColour(0.5));
    expect(rewardColour(2, range)).toBe(scaleColour(1));
    expect(rewardColour(null, range)).toBe(UNSCORED_COLOUR);
    expect(rewardColour(Number.POSITIVE_INFINITY, range)).toBe(UNSCORED_COLOUR);
  });

  it('gives a legend from the lowest to the highest reward, each colour different', () => {
    const legend = legendStops({ min: 0, max: 2 });
    expect(legend.map((s) => s.value)).toEqual([0, 0.5, 1, 1.5, 2]);
    expect(new Set(legend.map((s) => s.colour)).size).toBe(5);
    expect(legend[4]!.colour).toBe(scaleColour(1));
  });
});
