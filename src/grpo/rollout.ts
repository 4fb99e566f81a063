// Rollouts: grounding rows become prompts as the model sees them (image processor, chat template with
// the assistant prefill, M-RoPE positions), B prompts x G samples are generated in one decode loop, and
// each completion is decoded and scored by the reward functions. The result carries what the loss
// needs (ids, lengths, truncation) and what a person inspects (text, parsed box, IoU, every reward).

import type { Box, GroundingRow } from '../data/row.ts';
import { noGrad } from '../gpu/autograd.ts';
import type { Gpu } from '../gpu/context.ts';
import { slice } from '../gpu/ops/layout.ts';
import type { Tensor } from '../gpu/tensor.ts';
import type { ModelConfig } from '../model/config.ts';
import { generateBatch } from '../model/generate.ts';
import { buildPrompt, decodeCompletion, type PromptModel } from '../model/prompt.ts';
import { GrpoConfigError } from './config.ts';
import type { PolicyView } from './policy.ts';
import type { BoxSpace, ImageFrame, ParsedAnswer } from './rewards/answer.ts';
import { scoreCompletion } from './rewards/rewards.ts';
import { imageFeatures, type SequenceImage } from './sequences.ts';

export interface PromptSettings {
  systemPrompt: string | null;
  prefill: string;
  minPixels: number | null;
  maxPixels: number | null;
}

/** One grounding row as a prompt. */
export interface TrainingPrompt {
  row: GroundingRow;
  inputIds: Int32Array;
  positions: readonly [Int32Array, Int32Array, Int32Array];
  ropeDelta: number;
  image: SequenceImage;
  frame: ImageFrame;
  prefill: string;
}

/** Decodes the row's image and builds its prompt. */
export async function buildTrainingPrompt(
  model: PromptModel,
  row: GroundingRow,
  settings: PromptSettings,
): Promise<TrainingPrompt> {
  const image = await row.image();
  const built = buildPrompt(model, image, {
    question: row.question,
    prefill: settings.prefill,
    ...(settings.systemPrompt === null ? {} : { system: settings.systemPrompt }),
    ...(settings.minPixels === null ? {} : { minPixels: settings.minPixels }),
    ...(settings.maxPixels === null ? {} : { maxPixels: settings.maxPixels }),
  });
  const p = built.processed;
  return {
    row,
    inputIds: Int32Array.from(built.inputIds),
    positions: built.rope.positions,
    ropeDelta: built.rope.ropeDelta,
    image: { pixelValues: p.pixelValues, grid: p.gridThw },
    frame: {
      width: image.width,
      height: image.height,
      inputWidth: p.resizedWidth,
      inputHeight: p.resizedHeight,
    },
    prefill: built.prefill,
  };
}

/**
 * Refuses a prompt longer than max_prompt_length (null: no limit). Older TRL cut prompts from the left;
 * a Qwen-VL prompt cut that way loses image tokens the vision features must fill, so the row is named
 * instead, with what to change.
 */
export function checkPromptLength(
  prompt: Pick<TrainingPrompt, 'row' | 'inputIds'>,
  maxPromptLength: number | null,
  imageTokenId: number,
): void {
  const n = prompt.inputIds.length;
  if (maxPromptLength === null || n <= maxPromptLength) return;
  const image = prompt.inputIds.filter((id) => id === imageTokenId).length;
  throw new GrpoConfigError(
    'max_prompt_length',
    `row ${prompt.row.id}: its prompt is ${n} tokens (${image} of them for the image), more than ` +
      `max_prompt_length ${maxPromptLength}; an image prompt cannot be shortened without losing image ` +
      'tokens, so raise max_prompt_length (or set it to null) or lower max_pixels',
  );
}

export interface GenerationSettings {
  numGenerations: number;
  maxCompletionLength: number;
  temperature: number;
  topK: number;
  topP: number;
  seed: number;
  stopIds: readonly number[];
}

export interface ScoringSettings {
  rewardNames: readonly string[];
  iouThreshold: number;
  space: BoxSpace;
}

/** One sampled completion and its scores. */
export interface Completion {
  /** Index of its prompt in the rollout. */
  prompt: number;
  ids: number[];
  /** Decoded text after the prefill (special tokens kept, end-of-turn token dropped). */
  text: string;
  /** Ended with a stop id (false: cut at max_completion_length). */
  terminated: boolean;
  parsed: ParsedAnswer;
  /** The answer's box in original-image pixels, when it parsed. */
  boxPixels: Box | null;
  iou: number | null;
  /** One per reward function, null when it could not score. */
  rewards: (number | null)[];
}

/** Tokens that only the processor may place (image / video pads, vision markers): never sampled. */
export function visionIds(config: ModelConfig): number[] {
  const t = config.tokens;
  const ids = [t.imageTokenId, t.videoTokenId, t.visionStartTokenId, t.visionEndTokenId];
  if (t.visionTokenId !== null) ids.push(t.visionTokenId);
  return ids;
}

/** Generates G completions of each prompt with the policy and scores them. */
export async function rollout(
  gpu: Gpu,
  model: PromptModel,
  policy: PolicyView,
  prompts: readonly TrainingPrompt[],
  gen: GenerationSettings,
  scoring: ScoringSettings,
): Promise<Completion[]> {
  const { config, tokenizer } = model;
  const features = gpu.keep(
    noGrad(gpu, () =>
      imageFeatures(
        gpu,
        config,
        policy.weights,
        prompts.map((p) => p.image),
      ),
    ),
  );
  const perPrompt: Tensor[] = [];
  let result: Awaited<ReturnType<typeof generateBatch>>;
  try {
    const merge = config.vision.spatialMergeSize ** 2;
    let row = 0;
    for (const p of prompts) {
      const pads = (p.image.grid[0] * p.image.grid[1] * p.image.grid[2]) / merge;
      perPrompt.push(gpu.keep(noGrad(gpu, () => slice(gpu, features, 0, row, row + pads))));
      row += pads;
    }
    result = await generateBatch(gpu, config, policy.weights, {
      prompts: prompts.map((p, i) => ({
        inputIds: p.inputIds,
        positions: p.positions,
        ropeDelta: p.ropeDelta,
        imageFeatures: perPrompt[i],
      })),
      numSamples: gen.numGenerations,
      maxNewTokens: gen.maxCompletionLength,
      temperature: gen.temperature,
      topK: gen.topK,
      topP: gen.topP,
      seed: gen.seed,
      stopIds: gen.stopIds,
      suppressIds: visionIds(config),
      linear: policy.linear,
    });
  } finally {
    for (const t of perPrompt) t.dispose();
    features.dispose();
  }
  const stop = new Set(gen.stopIds);
  return result.ids.map((ids, r) => {
    const prompt = Math.floor(r / gen.numGenerations);
    const p = prompts[prompt]!;
    const terminated = result.finished[r]! && stop.has(ids[ids.length - 1]!);
    const text = decodeCompletion(tokenizer, terminated ? ids.slice(0, -1) : ids);
    const scored = scoreCompletion(
      scoring.rewardNames,
      { completion: text, prefill: p.prefill, box: p.row.box, frame: p.frame, space: scoring.space },
      { iouThreshold: scoring.iouThreshold },
    );
    return {
      prompt,
      ids,
      text,
      terminated,
      parsed: scored.parsed,
      boxPixels: scored.boxPixels,
      iou: scored.iou,
      rewards: scored.rewards,
    };
  });
}
