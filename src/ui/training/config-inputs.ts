// The config form's text inputs as a GrpoConfig layer over the chosen preset: empty fields are left to the
// preset, numbers are read as numbers, and the whole is checked by resolveConfig so the form shows the
// same errors, naming the same fields, as a config file would get.
import { type GrpoConfig, GrpoConfigError, LOSS_TYPES, resolveConfig } from '../../grpo/config.ts';
import { rewardNames } from '../../grpo/rewards/rewards.ts';

export interface FormField {
  name: keyof GrpoConfig;
  kind: 'number' | 'choice';
  choices?: readonly string[];
}

/** The fields the form offers, by TRL's names. */
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

export type FormInputs = Partial<Record<keyof GrpoConfig, string>>;

export type FormResult =
  | { ok: true; layer: Partial<GrpoConfig>; config: GrpoConfig; warnings: string[] }
  | { ok: false; field: string; message: string };

export function readFormInputs(inputs: FormInputs, preset: string): FormResult {
  const layer: Record<string, unknown> = {};
  for (const f of FORM_FIELDS) {
    const raw = inputs[f.name]?.trim() ?? '';
    if (raw === '') continue;
    if (f.kind === 'number') {
      const value = Number(raw);
      if (!Number.isFinite(value))
        return { ok: false, field: f.name, message: `${f.name}: '${raw}' is not a number` };
      layer[f.name] = value;
    } else {
      layer[f.name] = raw;
    }
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
