// The config form's text inputs as a GrpoConfig layer over the chosen preset: empty fields are left to the
// preset, numbers, booleans and comma-separated lists are read as such (null / none where allowed), and the whole is checked by resolveConfig so the form shows the
// same errors, naming the same fields, as a config file would get.
import {
  ANSWER_FORMS,
  BOX_SPACES,
  type GrpoConfig,
  GrpoConfigError,
  IMPORTANCE_SAMPLING_LEVELS,
  LOSS_TYPES,
  LR_SCHEDULER_TYPES,
  resolveConfig,
  SCALE_REWARDS,
  WEIGHT_DTYPES,
} from '../../grpo/config.ts';
import { rewardNames } from '../../grpo/rewards/rewards.ts';

export interface FormField {
  name: keyof GrpoConfig;
  /** number: a number, or null / none where the field allows it; bool: true / false; list: comma-separated
   * names; numbers: comma-separated numbers; text: as typed. */
  kind: 'number' | 'choice' | 'bool' | 'list' | 'numbers' | 'text';
  choices?: readonly string[];
}

/** The fields the form shows first, by TRL's names. */
export const FORM_FIELDS: readonly FormField[] = [
  { name: 'max_steps', kind: 'number' },
  { name: 'num_generations', kind: 'number' },
  { name: 'per_device_train_batch_size', kind: 'number' },
  { name: 'gradient_accumulation_steps', kind: 'number' },
  { name: 'max_completion_length', kind: 'number' },
  { name: 'learning_rate', kind: 'number' },
  { name: 'temperature', kind: 'number' },
  { name: 'beta', kind: 'number' },
  { name: 'loss_type', kind: 'choice', choices: LOSS_TYPES },
];

/** The rest of the settings a run takes, behind "More settings". */
export const MORE_FIELDS: readonly FormField[] = [
  { name: 'num_iterations', kind: 'number' },
  { name: 'epsilon', kind: 'number' },
  { name: 'epsilon_high', kind: 'number' },
  { name: 'scale_rewards', kind: 'choice', choices: SCALE_REWARDS },
  { name: 'importance_sampling_level', kind: 'choice', choices: IMPORTANCE_SAMPLING_LEVELS },
  { name: 'mask_truncated_completions', kind: 'bool' },
  { name: 'top_p', kind: 'number' },
  { name: 'top_k', kind: 'number' },
  { name: 'lr_scheduler_type', kind: 'choice', choices: LR_SCHEDULER_TYPES },
  { name: 'warmup_ratio', kind: 'number' },
  { name: 'weight_decay', kind: 'number' },
  { name: 'max_grad_norm', kind: 'number' },
  { name: 'seed', kind: 'number' },
  { name: 'logging_steps', kind: 'number' },
  { name: 'eval_steps', kind: 'number' },
  { name: 'save_steps', kind: 'number' },
  { name: 'reward_funcs', kind: 'list' },
  { name: 'reward_weights', kind: 'numbers' },
  { name: 'iou_threshold', kind: 'number' },
  { name: 'use_peft', kind: 'bool' },
  { name: 'lora_r', kind: 'number' },
  { name: 'lora_alpha', kind: 'number' },
  { name: 'lora_dropout', kind: 'number' },
  { name: 'lora_target_modules', kind: 'list' },
  { name: 'weight_dtype', kind: 'choice', choices: WEIGHT_DTYPES },
  { name: 'gradient_checkpointing', kind: 'bool' },
  { name: 'min_pixels', kind: 'number' },
  { name: 'max_pixels', kind: 'number' },
  { name: 'box_space', kind: 'choice', choices: BOX_SPACES },
  { name: 'answer_form', kind: 'choice', choices: ANSWER_FORMS },
  { name: 'system_prompt', kind: 'text' },
];

const ALL_FIELDS = [...FORM_FIELDS, ...MORE_FIELDS];

/** A field's text as its JSON value, or an error message naming the field. */
function readField(f: FormField, raw: string): { value: unknown } | { error: string } {
  const nullable = raw === 'null' || raw === 'none';
  switch (f.kind) {
    case 'number': {
      if (nullable) return { value: null };
      const value = Number(raw);
      return Number.isFinite(value) ? { value } : { error: `${f.name}: '${raw}' is not a number` };
    }
    case 'bool':
      if (raw === 'true' || raw === 'false') return { value: raw === 'true' };
      return { error: `${f.name}: '${raw}' is not true or false` };
    case 'list':
      return {
        value: raw
          .split(',')
          .map((x) => x.trim())
          .filter((x) => x !== ''),
      };
    case 'numbers': {
      if (nullable) return { value: null };
      const parts = raw.split(',').map((x) => x.trim());
      const value = parts.map(Number);
      const bad = parts.find((x, i) => x === '' || !Number.isFinite(value[i]));
      return bad === undefined ? { value } : { error: `${f.name}: '${bad}' is not a number` };
    }
    case 'text':
      return { value: nullable ? null : raw };
    default:
      return { value: raw };
  }
}

/** A field's value as the form shows it (placeholders and a loaded run's settings). */
export function fieldText(value: unknown): string {
  return Array.isArray(value) ? value.join(', ') : String(value);
}

export type FormInputs = Partial<Record<keyof GrpoConfig, string>>;

export type FormResult =
  | { ok: true; layer: Partial<GrpoConfig>; config: GrpoConfig; warnings: string[] }
  | { ok: false; field: string; message: string };

export function readFormInputs(inputs: FormInputs, preset: string): FormResult {
  const layer: Record<string, unknown> = {};
  for (const f of ALL_FIELDS) {
    const raw = inputs[f.name]?.trim() ?? '';
    if (raw === '') continue;
    const read = readField(f, raw);
    if ('error' in read) return { ok: false, field: f.name, message: read.error };
    layer[f.name] = read.value;
  }
  const warnings: string[] = [];
  try {
    const config = resolveConfig(layer, {
      preset,
      knownRewards: rewardNames(),
      onWarning: (w) => warnings.push(w),
    });
    return { ok: true, layer: layer as Partial<GrpoConfig>, config, warnings };
  } catch (e) {
    if (e instanceof GrpoConfigError) return { ok: false, field: e.field, message: e.message };
    throw e;
  }
}
