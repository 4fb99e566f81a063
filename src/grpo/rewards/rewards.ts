// The GRPO reward functions: pure functions of one completion and its row, kept in a registry by name
// (the names the config's `reward_funcs` and the metrics `rewards/<name>/mean` use). Built in: the
// tutorial's `grounding` (IoU >= threshold) and `format`, and VLM-R1's continuous `iou`. A reward
// returns null when it cannot score a completion (TRL's None); the built-in ones never do.
import type { Box } from '../../data/box-format.ts';
import {
  type BoxSpace,
  type ImageFrame,
  iou,
  type ParsedAnswer,
  parseAnswer,
  toOriginalPixels,
} from './answer.ts';

export interface RewardInput {
  /** The generated text after the prompt, special tokens kept, without the end-of-turn token. */
  completion: string;
  /** The assistant prefill the prompt ends with (e.g. "Let me analyze this image.\n<think>"). */
  prefill: string;
  /** Ground truth in pixels of the original image. */
  box: Box;
  frame: ImageFrame;
  /** The space the model answers in. */
  space: BoxSpace;
}

export interface RewardOptions {
  iouThreshold: number;
}

export const DEFAULT_REWARD_OPTIONS: Readonly<RewardOptions> = { iouThreshold: 0.5 };

/** A reward of one completion; null = unscorable (TRL's None). */
export type RewardFn = (input: RewardInput, options: RewardOptions) => number | null;

interface Grounded {
  parsed: ParsedAnswer;
  boxPixels: Box | null;
  iou: number | null;
}

/** The answer's box in original pixels and its IoU with the ground truth (null without a box). */
function ground(input: RewardInput): Grounded {
  const parsed = parseAnswer(input.completion);
  if (parsed.box === null) return { parsed, boxPixels: null, iou: null };
  const boxPixels = toOriginalPixels(parsed.box, input.space, input.frame);
  return { parsed, boxPixels, iou: iou(boxPixels, input.box) };
}

// Python's `\s` (str patterns) is not JavaScript's: it adds U+001C-U+001F and U+0085, lacks U+FEFF.
const PY_SPACE = '[\\t-\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]';
// re.fullmatch(r"<think>.*?</think>\s*<answer>.*?</answer>", text, re.DOTALL); JavaScript's `$`
// without the m flag matches only at the very end, so trailing whitespace fails as in Python.
const FORMAT = new RegExp(`^<think>.*?</think>${PY_SPACE}*<answer>.*?</answer>$`, 's');
// TRL decodes completions without special tokens; should one end with them, they are not text.
const TRAILING_STOP = /(?:<\|im_end\|>|<\|endoftext\|>)+$/;

/** The tutorial's format check, on the completion with the prefill from its last `<think>` in front. */
export function formatReward(input: RewardInput): number {
  const think = input.prefill.lastIndexOf('<think>');
  const head = think < 0 ? '' : input.prefill.slice(think);
  return FORMAT.test(head + input.completion.replace(TRAILING_STOP, '')) ? 1 : 0;
}

const registry = new Map<string, RewardFn>([
  ['grounding', (input, options) => ((ground(input).iou ?? 0) >= options.iouThreshold ? 1 : 0)],
  ['iou', (input) => ground(input).iou ?? 0],
  ['format', (input) => formatReward(input)],
]);

/** The registered rewards by name; registerReward adds to it. */
export const REWARDS: ReadonlyMap<string, RewardFn> = registry;

export function rewardNames(): string[] {
  return [...registry.keys()];
}

/** Adds a reward under a new name. */
export function registerReward(name: string, fn: RewardFn): void {
  if (name.trim() === '') throw new Error('a reward needs a non-empty name');
  if (registry.has(name)) throw new Error(`a reward named "${name}" is already registered`);
  registry.set(name, fn);
}

/**
 * The rewards `names` of one completion, in order, with what the UI shows beside them: the parsed
 * answer, its box in original pixels and its IoU with the ground truth.
 */
export function scoreCompletion(
  names: readonly string[],
  input: RewardInput,
  options: Partial<RewardOptions> = {},
): { rewards: (number | null)[]; parsed: ParsedAnswer; boxPixels: Box | null; iou: number | null } {
  const fns = names.map((name) => {
    const fn = registry.get(name);
    if (!fn) throw new Error(`unknown reward "${name}"; known rewards: ${rewardNames().join(', ')}`);
    return fn;
  });
  const full: RewardOptions = { iouThreshold: options.iouThreshold ?? DEFAULT_REWARD_OPTIONS.iouThreshold };
  return { rewards: fns.map((fn) => fn(input, full)), ...ground(input) };
}
