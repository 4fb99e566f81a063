// How a run stores its weight matrices on the GPU, from GrpoConfig.weight_dtype: full fine-tuning trains
// the weights themselves, which stay f32; LoRA leaves them frozen, so they may be f16 (half the memory)
// when the adapter has shader-f16. Shared by the worker and the CLI.
import type { WeightDtype } from '../model/load.ts';
import { type GrpoConfig, GrpoConfigError } from './config.ts';

/** The storage to load the weights in. Throws GrpoConfigError for f16 with full fine-tuning. */
export function resolveWeightDtype(
  config: Pick<GrpoConfig, 'weight_dtype' | 'use_peft'>,
  hasF16: boolean,
): WeightDtype {
  if (config.weight_dtype === 'f16' && !config.use_peft)
    throw new GrpoConfigError(
      'weight_dtype',
      "weight_dtype 'f16' needs use_peft: true (full fine-tuning trains the weights, which must be f32); " +
        "set use_peft to true, or weight_dtype to 'f32' or 'auto'",
    );
  if (config.weight_dtype === 'f32' || !config.use_peft || !hasF16) return 'f32';
  return 'f16';
}
