// The space a model writes answer boxes in, for GrpoConfig.box_space 'auto': each model family's native
// grounding convention. Shared by the worker and the CLI.
import type { ModelType } from '../../model/config.ts';
import type { BoxSpace as BoxSpaceSetting } from '../config.ts';
import { BOX_SPACES, type BoxSpace } from './answer.ts';

/** The built-in nano checkpoint, or a checkpoint of a supported model_type. */
export type ModelKind = 'nano' | ModelType;

/**
 * nano learns the synthetic set's answers, written in original-image pixels; Qwen2-VL answers in
 * 0-1000 normalised coordinates; Qwen2.5-VL in absolute pixels of its resized input.
 */
export const AUTO_BOX_SPACE: Readonly<Record<ModelKind, BoxSpace>> = {
  nano: 'pixels',
  qwen2_vl: 'norm1000',
  qwen2_5_vl: 'input-pixels',
};

/**
 * The space a checkpoint declares in its config.json under `box_space` (our key, which transformers
 * ignores): the nano checkpoint and the folders trained from it answer in original-image pixels.
 */
export function declaredBoxSpace(configJson: unknown): BoxSpace | undefined {
  const v =
    typeof configJson === 'object' && configJson !== null
      ? (configJson as { box_space?: unknown }).box_space
      : undefined;
  return BOX_SPACES.find((s) => s === v);
}

/** box_space as configured, with 'auto' resolved for `model`: its declared space, else its family's. */
export function resolveBoxSpace(setting: BoxSpaceSetting, model: ModelKind, declared?: BoxSpace): BoxSpace {
  return setting === 'auto' ? (declared ?? AUTO_BOX_SPACE[model]) : setting;
}
