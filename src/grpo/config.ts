// The GRPO training configuration: TRL 1.13's GRPOConfig / transformers 5.18's TrainingArguments / TRL's
// ModelConfig field names and defaults (so a TRL config file reads as is), plus this trainer's own
// vision fields; validation that names the field, the value and what is allowed; the batch sizes and step
// counts TRL and transformers derive from it; and named presets.

import { type LrScheduleType, warmupStepsFromRatio } from '../gpu/lr-schedule.ts';
import { DEFAULT_LORA_TARGETS } from '../model/lora.ts';

export const LOSS_TYPES = ['grpo', 'bnpo', 'dr_grpo', 'dapo', 'cispo', 'sapo', 'luspo', 'vespo'] as const;
export const SCALE_REWARDS = ['group', 'batch', 'none'] as const;
export const REWARD_AGGREGATIONS = ['sum_then_normalize', 'normalize_then_sum'] as const;
export const IMPORTANCE_SAMPLING_LEVELS = ['token', 'sequence'] as const;
/** The schedules src/gpu/lr-schedule.ts implements. */
export const LR_SCHEDULER_TYPES = [
  'constant',
  'constant_with_warmup',
  'linear',
  'cosine',
] as const satisfies readonly LrScheduleType[];
export const BOX_SPACES = ['auto', 'pixels', 'input-pixels', 'norm1000', 'norm1'] as const;
export const ANSWER_FORMS = ['list', 'bbox', 'bbox_2d', 'qwen2vl'] as const;
export const WEIGHT_DTYPES = ['auto', 'f32', 'f16'] as const;

export type LossType = (typeof LOSS_TYPES)[number];
/** The coordinate space of the model's answer boxes; 'auto' is resolved per model type by the trainer. */
export type BoxSpace = (typeof BOX_SPACES)[number];
export type AnswerForm = (typeof ANSWER_FORMS)[number];
export type WeightDtype = (typeof WEIGHT_DTYPES)[number];

export interface GrpoConfig {
  // --- TRL GRPOConfig: generation ---
  num_generations: number;
  /** Not a TRL 1.13 field (removed from GRPOConfig); null = no limit. A longer prompt is refused by name. */
  max_prompt_length: number | null;
  max_completion_length: number;
  temperature: number;
  top_p: number;
  /** 0 = no top-k filtering. */
  top_k: number;
  /** Completions per generation; null = per_device_train_batch_size x steps_per_generation. */
  generation_batch_size: number | null;
  /** null = generation_batch_size / per_device_train_batch_size, or gradient_accumulation_steps. */
  steps_per_generation: number | null;
  // --- TRL GRPOConfig: loss ---
  beta: number;
  num_iterations: number;
  epsilon: number;
  /** null = epsilon. */
  epsilon_high: number | null;
  delta: number | null;
  loss_type: LossType;
  /** true and false are accepted on input as 'group' and 'none'. */
  scale_rewards: (typeof SCALE_REWARDS)[number];
  multi_objective_aggregation: (typeof REWARD_AGGREGATIONS)[number];
  importance_sampling_level: (typeof IMPORTANCE_SAMPLING_LEVELS)[number];
  use_bias_correction_kl: boolean;
  mask_truncated_completions: boolean;
  top_entropy_quantile: number;
  off_policy_mask_threshold: number | null;
  sapo_temperature_pos: number;
  sapo_temperature_neg: number;
  vespo_k_pos: number;
  vespo_lambda_pos: number;
  vespo_k_neg: number;
  vespo_lambda_neg: number;
  // --- TrainingArguments: optimiser and schedule ---
  learning_rate: number;
  lr_scheduler_type: LrScheduleType;
  /** transformers 4.x's field (5.x folded it into warmup_steps); used when warmup_steps is 0. */
  warmup_ratio: number;
  /** An integer number of steps, or (transformers 5) a ratio of the total steps when in (0, 1). */
  warmup_steps: number;
  per_device_train_batch_size: number;
  gradient_accumulation_steps: number;
  /** Recompute each decoder layer's and vision block's activations in the backward instead of keeping them. */
  gradient_checkpointing: boolean;
  /** 0 = no clipping. */
  max_grad_norm: number;
  weight_decay: number;
  adam_beta1: number;
  adam_beta2: number;
  adam_epsilon: number;
  seed: number;
  /** > 0: the number of optimiser steps; -1: train for num_train_epochs. */
  max_steps: number;
  num_train_epochs: number;
  /** logging_steps, eval_steps, save_steps: a number of steps, or a ratio of the total steps when < 1. */
  logging_steps: number;
  /** null = no evaluation during training. */
  eval_steps: number | null;
  save_steps: number;
  // --- Reward functions (GRPOTrainer's reward_funcs, by registry name) ---
  reward_funcs: string[];
  /** One per reward function; null = all 1. */
  reward_weights: number[] | null;
  // --- TRL ModelConfig (LoRA) ---
  use_peft: boolean;
  lora_r: number;
  lora_alpha: number;
  lora_dropout: number;
  /** Module names, or one regular expression matched against the whole module name. */
  lora_target_modules: string[] | string;
  // --- vision-grpo ---
  /** null = the checkpoint's preprocessor_config.json. */
  min_pixels: number | null;
  max_pixels: number | null;
  box_space: BoxSpace;
  answer_form: AnswerForm;
  /** The grounding reward is 1 when IoU >= this. */
  iou_threshold: number;
  system_prompt: string | null;
  /** Text the assistant turn starts with (the prompt continues the final message); '' for none. */
  assistant_prefill: string;
  weight_dtype: WeightDtype;
}

/**
 * TRL 1.13 / transformers 5.18 defaults. GRPOConfig overrides three TrainingArguments defaults
 * (learning_rate 5e-5 -> 1e-6; logging_steps 500 -> 10 and gradient_checkpointing false -> true, in TRL's
 * _BaseConfig). Departures from TRL:
 * max_prompt_length and warmup_ratio are not fields there any more; lora_target_modules is None there (PEFT
 * then needs a per-model default, which it lacks for Qwen2-VL); reward_funcs is a trainer argument there.
 */
export const DEFAULT_CONFIG: Readonly<GrpoConfig> = Object.freeze({
  num_generations: 8,
  max_prompt_length: null,
  max_completion_length: 512,
  temperature: 1.0,
  top_p: 1.0,
  top_k: 0,
  generation_batch_size: null,
  steps_per_generation: null,
  beta: 0.0,
  num_iterations: 1,
  epsilon: 0.2,
  epsilon_high: null,
  delta: null,
  loss_type: 'dapo',
  scale_rewards: 'group',
  multi_objective_aggregation: 'sum_then_normalize',
  importance_sampling_level: 'token',
  use_bias_correction_kl: true,
  mask_truncated_completions: false,
  top_entropy_quantile: 1.0,
  off_policy_mask_threshold: null,
  sapo_temperature_pos: 1.0,
  sapo_temperature_neg: 1.05,
  vespo_k_pos: 2.0,
  vespo_lambda_pos: 3.0,
  vespo_k_neg: 3.0,
  vespo_lambda_neg: 2.0,
  learning_rate: 1e-6,
  lr_scheduler_type: 'linear',
  warmup_ratio: 0.0,
  warmup_steps: 0,
  per_device_train_batch_size: 8,
  gradient_accumulation_steps: 1,
  gradient_checkpointing: true,
  max_grad_norm: 1.0,
  weight_decay: 0.0,
  adam_beta1: 0.9,
  adam_beta2: 0.999,
  adam_epsilon: 1e-8,
  seed: 42,
  max_steps: -1,
  num_train_epochs: 3.0,
  logging_steps: 10,
  eval_steps: null,
  save_steps: 500,
  reward_funcs: ['grounding', 'format'],
  reward_weights: null,
  use_peft: false,
  lora_r: 16,
  lora_alpha: 32,
  lora_dropout: 0.05,
  lora_target_modules: [...DEFAULT_LORA_TARGETS],
  min_pixels: null,
  max_pixels: null,
  box_space: 'auto',
  answer_form: 'list',
  iou_threshold: 0.5,
  system_prompt: null,
  assistant_prefill: 'Let me analyze this image.\n<think>',
  weight_dtype: 'auto',
} satisfies GrpoConfig);

export const PRESETS: Record<string, Partial<GrpoConfig>> = {
  // The Vision_GRPO tutorial (run_r1_grpo_vlm.py, configs/grpo-qwen-2.5-v.yaml, run_grpo_vlm.sh) on one
  // device: 8 GPUs x 1 completion per device, 2 accumulation steps = 16 completions (2 prompts) per update.
  // Its trainer (an early TRL GRPOTrainer copy) averages per-token losses per completion, then over
  // completions ('grpo'), adds the KL unweighted by the ratio, and compares answer boxes with the
  // original-image boxes without mapping them. Full fine-tuning (no peft_config).
  tutorial: {
    num_generations: 8,
    per_device_train_batch_size: 8,
    gradient_accumulation_steps: 2,
    max_prompt_length: 1280,
    max_completion_length: 256,
    temperature: 1.0,
    beta: 0.04,
    loss_type: 'grpo',
    scale_rewards: 'group',
    use_bias_correction_kl: false,
    learning_rate: 1e-6,
    lr_scheduler_type: 'linear',
    warmup_ratio: 0.0,
    num_train_epochs: 1,
    logging_steps: 1,
    save_steps: 1000,
    seed: 42,
    use_peft: false,
    min_pixels: 3136,
    max_pixels: 12845056,
    reward_funcs: ['grounding', 'format'],
    answer_form: 'list',
    iou_threshold: 0.5,
    box_space: 'pixels',
  },
  // GRPO on the built-in 1M-parameter nano model: full fine-tuning, 16 prompts x 8 samples per update.
  // From the shipped checkpoint this raises held-out Acc@0.5 by more than 10 points within 300 steps
  // (README.md); in PyTorch trials of the same checkpoint, 8 prompts per update gained about 7 points
  // and learning rate 3e-4 lost ground.
  'nano-demo': {
    num_generations: 8,
    per_device_train_batch_size: 32,
    gradient_accumulation_steps: 4,
    max_completion_length: 64,
    temperature: 0.7,
    loss_type: 'grpo',
    beta: 0,
    use_peft: false,
    // The nano's activations are a few MiB: keeping them is faster than recomputing them.
    gradient_checkpointing: false,
    learning_rate: 1e-4,
    lr_scheduler_type: 'constant',
    max_steps: 300,
    logging_steps: 1,
    save_steps: 50,
    eval_steps: 50,
    box_space: 'auto',
  },
};

/** An invalid or contradictory configuration value. */
export class GrpoConfigError extends Error {
  override name = 'GrpoConfigError';
  constructor(
    /** The offending field (a GrpoConfig key, an unknown key as written, or `preset`). */
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

export interface ResolveOptions {
  /** A name in PRESETS, applied over the defaults and under the input. */
  preset?: string;
  /** The reward registry's names; when given, reward_funcs must be among them. */
  knownRewards?: readonly string[];
  /** Receives TRL's warnings and the TRL keys that are read and dropped. Default: none. */
  onWarning?: (message: string) => void;
}

// ---------------------------------------------------------------------------------------------------------
// Value parsers

type Parser<T> = (value: unknown, field: string) => T;

/** A value as it appears in a message: strings quoted and named as strings, the rest as JSON. */
function show(value: unknown): string {
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  if (typeof value === 'number') return String(value);
  if (value === undefined) return 'undefined';
  return JSON.stringify(value) ?? String(value);
}

function typeError(field: string, wanted: string, value: unknown): GrpoConfigError {
  const hint =
    typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))
      ? ' (write the number without quotes)'
      : '';
  return new GrpoConfigError(field, `${field} must be ${wanted}, got ${show(value)}${hint}`);
}

interface Range {
  min?: number;
  max?: number;
  /** Exclusive bounds. */
  above?: number;
  below?: number;
}

function describeRange(r: Range): string {
  const lo = r.above !== undefined ? `(${r.above}` : r.min !== undefined ? `[${r.min}` : undefined;
  const hi = r.below !== undefined ? `${r.below})` : r.max !== undefined ? `${r.max}]` : undefined;
  if (lo && hi) return `in ${lo}, ${hi}`;
  if (r.above !== undefined) return `> ${r.above}`;
  if (r.min !== undefined) return `>= ${r.min}`;
  if (r.below !== undefined) return `< ${r.below}`;
  if (r.max !== undefined) return `<= ${r.max}`;
  return '';
}

function inRange(x: number, r: Range): boolean {
  return (
    (r.min === undefined || x >= r.min) &&
    (r.max === undefined || x <= r.max) &&
    (r.above === undefined || x > r.above) &&
    (r.below === undefined || x < r.below)
  );
}

function num(range: Range = {}): Parser<number> {
  const wanted = `a finite number ${describeRange(range)}`.trimEnd();
  return (v, field) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw typeError(field, wanted, v);
    if (!inRange(v, range)) throw new GrpoConfigError(field, `${field} must be ${wanted}, got ${v}`);
    return v;
  };
}

/** `why` is appended to the range, in parentheses. */
function int(range: Range = {}, why = ''): Parser<number> {
  const wanted = `an integer ${describeRange(range)}`.trimEnd() + (why ? ` (${why})` : '');
  return (v, field) => {
    if (typeof v !== 'number') throw typeError(field, wanted, v);
    if (!Number.isInteger(v) || !inRange(v, range))
      throw new GrpoConfigError(field, `${field} must be ${wanted}, got ${v}`);
    return v;
  };
}

/** transformers' *_steps convention: a whole number of steps, or a ratio of the total steps in (0, 1). */
const steps: Parser<number> = (v, field) => {
  const wanted = 'a whole number of steps >= 1, or a ratio of the total steps in (0, 1)';
  if (typeof v !== 'number' || !Number.isFinite(v)) throw typeError(field, wanted, v);
  if (!(v > 0) || (v >= 1 && !Number.isInteger(v)))
    throw new GrpoConfigError(field, `${field} must be ${wanted}, got ${v}`);
  return v;
};

const bool: Parser<boolean> = (v, field) => {
  if (typeof v !== 'boolean') throw typeError(field, 'true or false', v);
  return v;
};

const str: Parser<string> = (v, field) => {
  if (typeof v !== 'string') throw typeError(field, 'a string', v);
  return v;
};

function nullable<T>(p: Parser<T>): Parser<T | null> {
  return (v, field) => (v === null ? null : p(v, field));
}

function oneOf<T extends string>(
  values: readonly T[],
  unsupported?: (v: string, field: string) => string,
): Parser<T> {
  const list = values.map((x) => `'${x}'`).join(', ');
  return (v, field) => {
    if (typeof v === 'string' && (values as readonly string[]).includes(v)) return v as T;
    if (typeof v === 'string' && unsupported) throw new GrpoConfigError(field, unsupported(v, field));
    const near = typeof v === 'string' ? closest(v, values) : undefined;
    const hint = near ? ` (did you mean '${near}'?)` : '';
    throw new GrpoConfigError(field, `${field} must be one of ${list}; got ${show(v)}${hint}`);
  };
}

function nonEmptyStrings(field: string, v: unknown): string[] {
  if (!Array.isArray(v) || v.length === 0) throw typeError(field, 'a non-empty list of names', v);
  const out: string[] = [];
  for (const [i, x] of v.entries()) {
    if (typeof x !== 'string' || x === '') throw typeError(`${field}[${i}]`, 'a non-empty string', x);
    if (out.includes(x)) throw new GrpoConfigError(field, `${field} lists "${x}" twice`);
    out.push(x);
  }
  return out;
}

const OTHER_SCHEDULERS = new Set([
  'cosine_with_restarts',
  'polynomial',
  'inverse_sqrt',
  'reduce_lr_on_plateau',
  'cosine_with_min_lr',
  'cosine_warmup_with_min_lr',
  'warmup_stable_decay',
  'greedy',
]);

const PARSERS: { [K in keyof GrpoConfig]: Parser<GrpoConfig[K]> } = {
  num_generations: int({ min: 2 }, 'GRPO compares at least 2 completions per prompt'),
  max_prompt_length: nullable(int({ min: 1 })),
  max_completion_length: int({ min: 1 }),
  temperature: num({ above: 0 }),
  top_p: num({ above: 0, max: 1 }),
  top_k: int({ min: 0 }),
  generation_batch_size: nullable(int({ min: 1 })),
  steps_per_generation: nullable(int({ min: 1 })),
  beta: num({ min: 0 }),
  num_iterations: int({ min: 1 }),
  epsilon: num({ above: 0 }),
  epsilon_high: nullable(num({ above: 0 })),
  delta: nullable(num({ above: 0 })),
  loss_type: oneOf(LOSS_TYPES),
  scale_rewards: (v, field) => oneOf(SCALE_REWARDS)(v === true ? 'group' : v === false ? 'none' : v, field),
  multi_objective_aggregation: oneOf(REWARD_AGGREGATIONS),
  importance_sampling_level: oneOf(IMPORTANCE_SAMPLING_LEVELS),
  use_bias_correction_kl: bool,
  mask_truncated_completions: bool,
  top_entropy_quantile: num({ min: 0, max: 1 }),
  off_policy_mask_threshold: nullable(num({ above: 0 })),
  sapo_temperature_pos: num({ above: 0 }),
  sapo_temperature_neg: num({ above: 0 }),
  vespo_k_pos: num({ min: 0 }),
  vespo_lambda_pos: num({ min: 0 }),
  vespo_k_neg: num({ min: 0 }),
  vespo_lambda_neg: num({ min: 0 }),
  learning_rate: num({ min: 0 }),
  lr_scheduler_type: oneOf(LR_SCHEDULER_TYPES, (v, field) =>
    OTHER_SCHEDULERS.has(v)
      ? `${field} '${v}' is a transformers schedule this trainer does not implement; use one of ` +
        `${LR_SCHEDULER_TYPES.map((x) => `'${x}'`).join(', ')}`
      : `${field} must be one of ${LR_SCHEDULER_TYPES.map((x) => `'${x}'`).join(', ')}; got ${show(v)}`,
  ),
  warmup_ratio: num({ min: 0, below: 1 }),
  warmup_steps: (v, field) => {
    const wanted = 'a whole number of steps >= 0, or a ratio of the total steps in (0, 1)';
    if (typeof v !== 'number' || !Number.isFinite(v)) throw typeError(field, wanted, v);
    if (v < 0 || (v >= 1 && !Number.isInteger(v)))
      throw new GrpoConfigError(field, `${field} must be ${wanted}, got ${v}`);
    return v;
  },
  per_device_train_batch_size: int({ min: 1 }),
  gradient_accumulation_steps: int({ min: 1 }),
  gradient_checkpointing: bool,
  max_grad_norm: num({ min: 0 }),
  weight_decay: num({ min: 0 }),
  adam_beta1: num({ min: 0, below: 1 }),
  adam_beta2: num({ min: 0, below: 1 }),
  adam_epsilon: num({ min: 0 }),
  seed: int({ min: 0, max: 0xffffffff }),
  max_steps: (v, field) => {
    if (v === -1 || (typeof v === 'number' && Number.isInteger(v) && v >= 1)) return v;
    if (typeof v === 'number')
      throw new GrpoConfigError(
        field,
        `${field} must be a positive integer, or -1 to train for num_train_epochs; got ${v}`,
      );
    throw typeError(field, 'a positive integer, or -1 to train for num_train_epochs', v);
  },
  num_train_epochs: num({ above: 0 }),
  logging_steps: steps,
  eval_steps: nullable(steps),
  save_steps: steps,
  reward_funcs: (v, field) => nonEmptyStrings(field, v),
  reward_weights: nullable((v, field) => {
    if (!Array.isArray(v)) throw typeError(field, 'a list of numbers (one per reward function) or null', v);
    return v.map((x, i) => num()(x, `${field}[${i}]`));
  }),
  use_peft: bool,
  lora_r: int({ min: 1 }),
  lora_alpha: num({ above: 0 }),
  lora_dropout: num({ min: 0, below: 1 }),
  lora_target_modules: (v, field) => {
    if (typeof v !== 'string') return nonEmptyStrings(field, v);
    if (v === '') throw typeError(field, 'a list of module names or a regular expression', v);
    try {
      new RegExp(`^(?:${v})$`);
    } catch {
      throw new GrpoConfigError(field, `${field} ${JSON.stringify(v)} is not a valid regular expression`);
    }
    return v;
  },
  min_pixels: nullable(int({ min: 1 })),
  max_pixels: nullable(int({ min: 1 })),
  box_space: oneOf(BOX_SPACES),
  answer_form: oneOf(ANSWER_FORMS),
  iou_threshold: num({ min: 0, max: 1 }),
  system_prompt: nullable(str),
  assistant_prefill: str,
  weight_dtype: oneOf(WEIGHT_DTYPES),
};

export const CONFIG_FIELDS = Object.keys(PARSERS) as (keyof GrpoConfig)[];

// ---------------------------------------------------------------------------------------------------------
// Keys of TRL configs that are not GrpoConfig fields

/** TRL / transformers options that change nothing here (output, logging, hub, device, memory): dropped. */
const IGNORED_TRL_KEYS = new Set([
  'output_dir',
  'overwrite_output_dir',
  'run_name',
  'report_to',
  'logging_dir',
  'logging_strategy',
  'logging_first_step',
  'log_level',
  'disable_tqdm',
  'push_to_hub',
  'hub_model_id',
  'hub_strategy',
  'hub_private_repo',
  'save_total_limit',
  'save_only_model',
  'gradient_checkpointing_kwargs',
  'bf16',
  'fp16',
  'tf32',
  'deepspeed',
  'dataloader_num_workers',
  'dataloader_pin_memory',
  'ddp_find_unused_parameters',
  'use_liger_kernel',
  'ds3_gather_for_generation',
  'remove_unused_columns',
  'log_completions',
  'num_completions_to_print',
  'model_name_or_path',
  'model_revision',
  'torch_dtype',
  'dtype',
  'attn_implementation',
  'trust_remote_code',
  'dataset_name',
  'dataset_config',
  'dataset_train_split',
  'dataset_test_split',
]);

/** TRL options for features this trainer lacks: accepted only at the values that leave them off. */
const DEFAULT_ONLY_TRL_KEYS: Record<string, readonly unknown[]> = {
  use_vllm: [false],
  sync_ref_model: [false],
  entropy_coef: [0],
  use_adaptive_entropy: [false],
  min_p: [null],
  repetition_penalty: [1],
  generation_kwargs: [null],
  lr_scheduler_kwargs: [null],
  optim: ['adamw_torch_fused', 'adamw_torch'],
  save_strategy: ['steps'],
  eval_strategy: ['no', 'steps'],
  num_generations_eval: [null],
  disable_dropout: [false],
  shuffle_dataset: [true],
  use_rslora: [false],
  use_dora: [false],
  load_in_4bit: [false],
  load_in_8bit: [false],
  lora_task_type: ['CAUSAL_LM'],
  lora_modules_to_save: [null],
};

function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/** The candidate nearest to `name` (edit distance, or containing it), when one is near enough. */
function closest(name: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = levenshtein(name.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  if (best !== undefined && bestDistance <= Math.max(2, Math.floor(name.length / 3))) return best;
  if (name.length >= 3) return candidates.find((c) => c.includes(name.toLowerCase()));
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Resolution

function copyConfig(c: Readonly<GrpoConfig>): GrpoConfig {
  return {
    ...c,
    reward_funcs: [...c.reward_funcs],
    reward_weights: c.reward_weights === null ? null : [...c.reward_weights],
    lora_target_modules:
      typeof c.lora_target_modules === 'string' ? c.lora_target_modules : [...c.lora_target_modules],
  };
}

function setField<K extends keyof GrpoConfig>(config: GrpoConfig, key: K, value: unknown): void {
  const parse: Parser<GrpoConfig[K]> = PARSERS[key];
  config[key] = parse(value, key);
}

function isField(key: string): key is keyof GrpoConfig {
  return Object.hasOwn(PARSERS, key);
}

function applyLayer(config: GrpoConfig, layer: Record<string, unknown>, warn: (m: string) => void): void {
  for (const [key, value] of Object.entries(layer)) {
    if (value === undefined) continue;
    if (isField(key)) {
      setField(config, key, value);
    } else if (IGNORED_TRL_KEYS.has(key)) {
      warn(`${key}: a TRL option that has no effect in this trainer; ignored`);
    } else if (Object.hasOwn(DEFAULT_ONLY_TRL_KEYS, key)) {
      const allowed = DEFAULT_ONLY_TRL_KEYS[key]!;
      if (!allowed.includes(value))
        throw new GrpoConfigError(
          key,
          `${key} ${JSON.stringify(value)} is not supported: this trainer does not implement that TRL feature; ` +
            `only ${allowed.map((x) => JSON.stringify(x)).join(' or ')} (which leaves it off) is accepted`,
        );
    } else {
      const near = closest(key, CONFIG_FIELDS);
      throw new GrpoConfigError(key, `unknown option '${key}'${near ? `; did you mean '${near}'?` : ''}`);
    }
  }
}

function checkBatch(c: GrpoConfig): void {
  const b = c.per_device_train_batch_size;
  const g = c.num_generations;
  if (c.generation_batch_size !== null && c.steps_per_generation !== null)
    throw new GrpoConfigError(
      'generation_batch_size',
      `generation_batch_size (${c.generation_batch_size}) and steps_per_generation (${c.steps_per_generation}) ` +
        'cannot both be set; set one (the other follows from per_device_train_batch_size)',
    );
  if (c.generation_batch_size !== null) {
    if (c.generation_batch_size % b !== 0)
      throw new GrpoConfigError(
        'generation_batch_size',
        `generation_batch_size (${c.generation_batch_size}) must be divisible by per_device_train_batch_size (${b})`,
      );
    if (c.generation_batch_size % g !== 0)
      throw new GrpoConfigError(
        'generation_batch_size',
        `generation_batch_size (${c.generation_batch_size}) must be divisible by num_generations (${g}) ` +
          'so that every prompt gets all its completions in one generation batch',
      );
    return;
  }
  const [name, s] =
    c.steps_per_generation !== null
      ? ['steps_per_generation', c.steps_per_generation]
      : ['gradient_accumulation_steps', c.gradient_accumulation_steps];
  if ((b * s) % g !== 0)
    throw new GrpoConfigError(
      'num_generations',
      `per_device_train_batch_size x ${name} (${b} x ${s} = ${b * s}) must be divisible by num_generations ` +
        `(${g}) so that every prompt gets all its completions in one generation batch` +
        (name === 'gradient_accumulation_steps'
          ? ' (steps_per_generation defaults to gradient_accumulation_steps)'
          : ''),
    );
}

function checkConfig(c: GrpoConfig, options: ResolveOptions, warn: (m: string) => void): void {
  checkBatch(c);

  const known = options.knownRewards;
  for (const name of c.reward_funcs) {
    if (known && !known.includes(name)) {
      const near = closest(name, known);
      throw new GrpoConfigError(
        'reward_funcs',
        `reward_funcs: unknown reward function "${name}"${near ? ` (did you mean "${near}"?)` : ''}; ` +
          `known: ${known.map((k) => `"${k}"`).join(', ')}`,
      );
    }
  }
  if (c.reward_weights !== null && c.reward_weights.length !== c.reward_funcs.length)
    throw new GrpoConfigError(
      'reward_weights',
      `reward_weights has ${c.reward_weights.length} weights (${JSON.stringify(c.reward_weights)}) but reward_funcs ` +
        `has ${c.reward_funcs.length} functions (${JSON.stringify(c.reward_funcs)}); give one weight per function`,
    );
  if (c.min_pixels !== null && c.max_pixels !== null && c.min_pixels > c.max_pixels)
    throw new GrpoConfigError(
      'min_pixels',
      `min_pixels (${c.min_pixels}) must be <= max_pixels (${c.max_pixels})`,
    );
  if (c.warmup_steps > 0 && c.warmup_ratio > 0)
    throw new GrpoConfigError(
      'warmup_steps',
      `warmup_steps (${c.warmup_steps}) and warmup_ratio (${c.warmup_ratio}) are both set; set only one`,
    );

  // TRL's warnings (grpo_trainer.py), and two of our own about settings that silently do nothing.
  if (c.loss_type === 'luspo' && c.importance_sampling_level !== 'sequence')
    warn("loss_type 'luspo' is meant for importance_sampling_level 'sequence' (the paper's setup)");
  if (c.loss_type === 'vespo' && c.importance_sampling_level !== 'token')
    warn(
      "loss_type 'vespo' computes sequence-level weights itself; importance_sampling_level should be 'token'",
    );
  if (
    c.importance_sampling_level === 'sequence' &&
    ['bnpo', 'dr_grpo', 'dapo', 'cispo'].includes(c.loss_type)
  )
    warn(
      `importance_sampling_level 'sequence' with loss_type '${c.loss_type}' weights each sequence by its length; ` +
        "GSPO uses loss_type 'grpo'",
    );
  if (c.loss_type === 'cispo' && c.epsilon_high === null)
    warn(`loss_type 'cispo' caps the ratio at epsilon_high, which is unset, so at epsilon (${c.epsilon})`);
  if (c.delta !== null && c.delta <= 1 + (c.epsilon_high ?? c.epsilon))
    warn(`delta (${c.delta}) should be greater than 1 + epsilon_high (${1 + (c.epsilon_high ?? c.epsilon)})`);
  if (c.lr_scheduler_type === 'constant' && (c.warmup_steps > 0 || c.warmup_ratio > 0))
    warn("lr_scheduler_type 'constant' ignores warm-up; use 'constant_with_warmup'");
}

/**
 * The configuration from defaults <- preset <- input, validated. Input keys are GrpoConfig's; a key whose
 * value is undefined counts as absent. Throws GrpoConfigError.
 */
export function resolveConfig(input: Record<string, unknown>, options: ResolveOptions = {}): GrpoConfig {
  if (input === null || typeof input !== 'object' || Array.isArray(input))
    throw new GrpoConfigError(
      '',
      `the configuration must be a mapping of option names to values, got ${show(input)}`,
    );
  const warn = options.onWarning ?? (() => {});
  const config = copyConfig(DEFAULT_CONFIG);
  if (options.preset !== undefined) {
    const preset = Object.hasOwn(PRESETS, options.preset) ? PRESETS[options.preset] : undefined;
    if (!preset) {
      const names = Object.keys(PRESETS);
      const near = closest(options.preset, names);
      throw new GrpoConfigError(
        'preset',
        `unknown preset '${options.preset}'${near ? ` (did you mean '${near}'?)` : ''}; presets: ${names.join(', ')}`,
      );
    }
    applyLayer(config, preset, warn);
  }
  applyLayer(config, input, warn);
  checkConfig(config, options, warn);
  return config;
}

/** The configuration as plain JSON values; resolveConfig(configToJson(c)) equals c. */
export function configToJson(config: GrpoConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const copy = copyConfig(config);
  for (const key of CONFIG_FIELDS) out[key] = copy[key];
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Derived values

export interface DerivedSizes {
  /** Completions sampled together (TRL's generation_batch_size). */
  generationBatchSize: number;
  /** Distinct prompts per generation batch. */
  promptsPerGeneration: number;
  /** per_device_train_batch_size-row micro-batches a generation batch is split into (steps_per_generation). */
  microBatchesPerGeneration: number;
}

/** What GRPOConfig.__post_init__ derives from the batch fields (one process). */
export function derivedSizes(config: GrpoConfig): DerivedSizes {
  const b = config.per_device_train_batch_size;
  const stepsPerGeneration =
    config.steps_per_generation ??
    (config.generation_batch_size !== null
      ? config.generation_batch_size / b
      : config.gradient_accumulation_steps);
  const generationBatchSize = config.generation_batch_size ?? b * stepsPerGeneration;
  return {
    generationBatchSize,
    promptsPerGeneration: generationBatchSize / config.num_generations,
    microBatchesPerGeneration: stepsPerGeneration,
  };
}

/**
 * The optimiser steps of the run, as transformers' Trainer.set_initial_training_values computes them
 * for GRPOTrainer's dataloader (one process):
 *   P = prompts per generation, S = steps_per_generation, GA = gradient_accumulation_steps;
 *   RepeatSampler drops the last partial chunk of P prompts and yields each chunk num_iterations x S
 *   times, so one epoch is floor(rows / P) x num_iterations x S micro-batches;
 *   updates per epoch = max(ceil(micro-batches / GA), 1);
 *   total = max_steps when > 0, else ceil(num_train_epochs x updates per epoch).
 * Throws GrpoConfigError when the dataset cannot fill one generation batch.
 */
export function totalOptimizerSteps(config: GrpoConfig, datasetRows: number): number {
  if (!Number.isInteger(datasetRows) || datasetRows < 0)
    throw new RangeError(`datasetRows must be a non-negative integer, got ${datasetRows}`);
  const { generationBatchSize, promptsPerGeneration, microBatchesPerGeneration } = derivedSizes(config);
  if (datasetRows < promptsPerGeneration)
    throw new GrpoConfigError(
      'generation_batch_size',
      `the dataset has ${datasetRows} rows, fewer than the ${promptsPerGeneration} prompts of one generation batch ` +
        `(${generationBatchSize} completions / num_generations ${config.num_generations}); use more rows or a ` +
        'smaller per_device_train_batch_size or steps_per_generation',
    );
  if (config.max_steps > 0) return config.max_steps;
  const microBatchesPerEpoch =
    Math.floor(datasetRows / promptsPerGeneration) * config.num_iterations * microBatchesPerGeneration;
  const ga = config.gradient_accumulation_steps;
  const updatesPerEpoch = Math.max(
    Math.floor(microBatchesPerEpoch / ga) + (microBatchesPerEpoch % ga > 0 ? 1 : 0),
    1,
  );
  return Math.ceil(config.num_train_epochs * updatesPerEpoch);
}

/**
 * Warm-up steps (TrainingArguments.get_warmup_steps in transformers 5.18, plus 4.x's warmup_ratio):
 * int(warmup_steps) when >= 1, ceil(total x warmup_steps) when in (0, 1), else ceil(total x warmup_ratio).
 */
export function warmupSteps(config: GrpoConfig, totalSteps: number): number {
  if (config.warmup_steps >= 1) return Math.trunc(config.warmup_steps);
  if (config.warmup_steps > 0) return warmupStepsFromRatio(config.warmup_steps, totalSteps);
  return warmupStepsFromRatio(config.warmup_ratio, totalSteps);
}

/** A logging_steps / eval_steps / save_steps value in steps: ratios (< 1) become ceil(total x ratio). */
export function intervalSteps(value: number, totalSteps: number): number {
  return value < 1 ? Math.ceil(totalSteps * value) : value;
}

/** Fields that are neither GRPOConfig's nor ModelConfig's (warmup_ratio goes in as warmup_steps). */
export const NOT_TRL_FIELDS = [
  'max_prompt_length',
  'warmup_ratio',
  'reward_funcs',
  'min_pixels',
  'max_pixels',
  'box_space',
  'answer_form',
  'iou_threshold',
  'system_prompt',
  'assistant_prefill',
  'weight_dtype',
] as const satisfies readonly (keyof GrpoConfig)[];

/**
 * The configuration as keyword arguments of TRL 1.13's GRPOConfig and ModelConfig (for recipes that run
 * TRL on the same settings). warmup_ratio becomes transformers 5's fractional warmup_steps; eval_steps
 * turns on eval_strategy 'steps'; max_prompt_length, reward_funcs and the vision fields are left out.
 */
export function trlKwargs(config: GrpoConfig): {
  grpoConfig: Record<string, unknown>;
  modelConfig: Record<string, unknown>;
} {
  const json = configToJson(config);
  const modelKeys = ['use_peft', 'lora_r', 'lora_alpha', 'lora_dropout', 'lora_target_modules'];
  const ours: readonly string[] = NOT_TRL_FIELDS;
  const grpoConfig: Record<string, unknown> = {};
  const modelConfig: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(json)) {
    if (modelKeys.includes(key)) modelConfig[key] = value;
    else if (!ours.includes(key)) grpoConfig[key] = value;
  }
  if (config.warmup_steps === 0 && config.warmup_ratio > 0) grpoConfig.warmup_steps = config.warmup_ratio;
  if (config.eval_steps !== null) grpoConfig.eval_strategy = 'steps';
  return { grpoConfig, modelConfig };
}
