// The space a model writes answer boxes in, for GrpoConfig.box_space 'auto': each model family's native
// grounding convention. Shared by the worker and the CLI.
import type { ModelType } from '../model/config.ts';
import type { BoxSpace } from './answer.ts';
import type { BoxSpace as BoxSpaceSetting } from './config.ts';

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

/** box_space as configured, with 'auto' resolved for `model`. */
export function resolveBoxSpace(setting: BoxSpaceSetting, model: ModelKind): BoxSpace {
  return setting === 'auto' ? AUTO_BOX_SPACE[model] : setting;
}
