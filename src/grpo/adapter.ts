// A PEFT LoRA adapter a run starts from: one beside the weights in a model folder, or named on the CLI.
// Its adapter_config.json sets the run's LoRA fields (use_peft on) and its matrices are the adapters'
// starting values. The reference policy stays the base model with the adapters switched off, as TRL
// has it for a PeftModel.
import type { Gpu } from '../gpu/context.ts';
import type { ModelConfig } from '../model/config.ts';
import {
  DEFAULT_LORA_TARGETS,
  importPeft,
  type Lora,
  type PeftAdapterInput,
  readPeftConfig,
} from '../model/lora.ts';
import { type GrpoConfig, GrpoConfigError } from './config.ts';

export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';

const LORA_FIELDS = ['use_peft', 'lora_r', 'lora_alpha', 'lora_dropout', 'lora_target_modules'] as const;

/** The config with the adapter's LoRA settings; `warn` hears which fields the adapter set. */
export function withAdapterSettings(
  config: GrpoConfig,
  adapterConfig: unknown,
  warn: (message: string) => void,
): GrpoConfig {
  const s = readPeftConfig(adapterConfig);
  if (s.useRslora)
    throw new GrpoConfigError(
      'use_peft',
      'the adapter uses use_rslora, which training does not support; merge it into the model first, or ' +
        'start without it',
    );
  const targets = s.targetModules ?? DEFAULT_LORA_TARGETS;
  const next: GrpoConfig = {
    ...config,
    use_peft: true,
    lora_r: s.r,
    lora_alpha: s.alpha,
    lora_dropout: s.dropout ?? 0,
    lora_target_modules: typeof targets === 'string' ? targets : [...targets],
  };
  const set = LORA_FIELDS.filter((k) => JSON.stringify(config[k]) !== JSON.stringify(next[k]));
  if (set.length > 0)
    warn(
      `training continues the LoRA adapter it starts from, so that adapter's ${ADAPTER_CONFIG} sets ` +
        set.map((k) => `${k} ${JSON.stringify(next[k])}`).join(', '),
    );
  return next;
}

/**
 * The adapter's matrices on the GPU, in training mode with the run's dropout seed. `config` must have
 * come through withAdapterSettings with the same adapter_config.json.
 */
export async function loadStartingAdapter(
  gpu: Gpu,
  model: ModelConfig,
  files: PeftAdapterInput,
  config: GrpoConfig,
): Promise<Lora> {
  const lora = await importPeft(gpu, model, files, { seed: config.seed });
  lora.training = true;
  return lora;
}
