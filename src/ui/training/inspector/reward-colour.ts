// The colour of a completion's box by its total reward, on a scale that reads on any image: bright,
// hue-ordered stops from red (lowest) through yellow to turquoise (highest), drawn over a dark outline
// (OUTLINE) so that light and dark images alike show them. Unscorable completions (no total) are grey.
import type { GrpoConfig } from '../../../grpo/config.ts';

/** Red-pink, orange, yellow, lime, turquoise: luminance and hue both rise, so the order survives common colour blindness. */
const STOPS: readonly (readonly [number, number, number])[] = [
  [255, 59, 107],
  [255, 138, 61],
  [255, 217, 61],
  [155, 232, 74],
  [46, 230, 214],
];

export const UNSCORED_COLOUR = 'rgb(170, 170, 170)';
export const OUTLINE = 'rgba(0, 0, 0, 0.85)';

/** The scale's colour at t in [0, 1] (clamped), as CSS rgb(). */
export function scaleColour(t: number): string {
  const x = Number.isFinite(t) ? Math.min(1, Math.max(0, t)) : 0;
  const pos = x * (STOPS.length - 1);
  const i = Math.min(STOPS.length - 2, Math.floor(pos));
  const f = pos - i;
  const a = STOPS[i]!;
  const b = STOPS[i + 1]!;
  const c = a.map((v, k) => Math.round(v + (b[k]! - v) * f));
  return `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
}

/** The range a total reward can take: each built-in reward lies in [0, 1], times its weight. */
export interface RewardRange {
  min: number;
  max: number;
}

export function rewardRange(config: Pick<GrpoConfig, 'reward_funcs' | 'reward_weights'>): RewardRange {
  let min = 0;
  let max = 0;
  config.reward_funcs.forEach((_, i) => {
    const w = config.reward_weights?.[i] ?? 1;
    if (w >= 0) max += w;
    else min += w;
  });
  return max > min ? { min, max } : { min: 0, max: 1 };
}

/** The colour of a total reward within `range`; grey when the completion could not be scored. */
export function rewardColour(reward: number | null, range: RewardRange): string {
  if (reward === null || !Number.isFinite(reward)) return UNSCORED_COLOUR;
  return scaleColour((reward - range.min) / (range.max - range.min));
}

/** Evenly spaced legend entries from range.min to range.max. */
export function legendStops(range: RewardRange, count = 5): { value: number; colour: string }[] {
  return Array.from({ length: count }, (_, i) => {
    const value = range.min + ((range.max - range.min) * i) / (count - 1);
    return { value, colour: rewardColour(value, range) };
  });
}
