// The training configuration against TRL's real GRPOConfig as the oracle: test/fixtures/trl-grpo/
// config-defaults.json (written by scripts/make-trl-grpo-fixtures.py) records TRL's defaults, the batch
// sizes its __post_init__ derives, and the settings it rejects. Our defaults must equal TRL's (apart from
// the differences listed below), our derived sizes must equal TRL's, and we must reject what TRL rejects,
// plus, up front, the values TRL accepts and only rejects (or silently misuses) during training.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  CONFIG_FIELDS,
  DEFAULT_CONFIG,
  derivedSizes,
  type GrpoConfig,
  GrpoConfigError,
  resolveConfig,
} from '../../src/grpo/config.ts';

interface TrlField {
  exists: boolean;
  default?: unknown;
  resolved?: unknown;
}
type Kwargs = Record<string, unknown>;

const fixture: {
  trl_version: string;
  grpo_config: Record<string, TrlField>;
  training_arguments: Record<string, { transformers: TrlField; grpo_config: TrlField }>;
  derived: { kwargs: Kwargs; resolved: Record<string, unknown> }[];
  validation_errors: { kwargs: Kwargs; error: string | null }[];
  runtime_errors: { kwargs: Kwargs; where: string; error: string }[];
} = JSON.parse(readFileSync(new URL('../fixtures/trl-grpo/config-defaults.json', import.meta.url), 'utf8'));

/** Our fields that are not compared with a TRL default, and why. */
const NOT_COMPARED: Partial<Record<keyof GrpoConfig, string>> = {
  max_prompt_length: "gone from TRL 1.13's GRPOConfig; kept so older configs read (null = no limit)",
  warmup_ratio: "transformers 5 folded it into warmup_steps; kept as 4.x's field (default 0)",
  reward_funcs: 'a GRPOTrainer argument in TRL, not a config field; here registry names',
  lora_target_modules: "None in TRL's ModelConfig (PEFT's per-model default, which PEFT lacks for Qwen2-VL)",
  use_peft: "TRL's ModelConfig: not recorded by the recipe (config.test.ts checks it against TRL's source)",
  lora_r: "TRL's ModelConfig: not recorded by the recipe (config.test.ts checks it against TRL's source)",
  lora_alpha: "TRL's ModelConfig: not recorded by the recipe (config.test.ts checks it against TRL's source)",
  lora_dropout:
    "TRL's ModelConfig: not recorded by the recipe (config.test.ts checks it against TRL's source)",
  min_pixels: 'vision-grpo only',
  max_pixels: 'vision-grpo only',
  box_space: 'vision-grpo only',
  answer_form: 'vision-grpo only',
  iou_threshold: 'vision-grpo only',
  system_prompt: 'vision-grpo only',
  assistant_prefill: 'vision-grpo only',
  weight_dtype: 'vision-grpo only',
};

/** Fields whose TRL default (None) __post_init__ fills in: compared unresolved, and resolved via derivedSizes. */
const FILLED_BY_POST_INIT = ['steps_per_generation', 'generation_batch_size'];

/** TRL's records of a field: GRPOConfig's own, and the TrainingArguments field as GRPOConfig resolves it. */
function trlRecords(name: string): TrlField[] {
  return [fixture.grpo_config[name], fixture.training_arguments[name]?.grpo_config].filter(
    (r) => r !== undefined,
  );
}

/** TRL settings for features this trainer does not have; fixture cases that use them are skipped. */
const NOT_OURS: Record<string, string> = {
  do_eval: 'evaluation has no separate batch size or group size here',
  eval_strategy: 'evaluation has no separate batch size or group size here',
  per_device_eval_batch_size: 'evaluation has no separate batch size or group size here',
  num_generations_eval: 'evaluation has no separate batch size or group size here',
  auto_find_batch_size: 'no out-of-memory batch-size search',
  vllm_importance_sampling_mode: 'no vLLM generation',
  vllm_importance_sampling_clip_min: 'no vLLM generation',
  vllm_importance_sampling_clip_max: 'no vLLM generation',
  log_completions_hub_repo: 'no Hugging Face Hub upload',
  bf16: 'precision is weight_dtype; training runs on WebGPU',
  fp16: 'precision is weight_dtype; training runs on WebGPU',
  use_cpu: 'precision is weight_dtype; training runs on WebGPU',
};
const ours = (c: { kwargs: Kwargs }) => Object.keys(c.kwargs).every((k) => !Object.hasOwn(NOT_OURS, k));

/** The error resolveConfig throws for `kwargs` (fails the test when none is thrown). */
function errorFor(kwargs: Kwargs): GrpoConfigError {
  try {
    resolveConfig(kwargs);
  } catch (e) {
    expect(e).toBeInstanceOf(GrpoConfigError);
    return e as GrpoConfigError;
  }
  throw new Error(`no error for ${JSON.stringify(kwargs)}`);
}

const show = (kwargs: Kwargs) => JSON.stringify(kwargs);

describe(`config against TRL ${fixture.trl_version}'s GRPOConfig`, () => {
  it.each(CONFIG_FIELDS.filter((f) => !Object.hasOwn(NOT_COMPARED, f)))(
    'default of %s equals TRL',
    (field) => {
      const records = trlRecords(field);
      expect(records, `the fixture has no TRL field ${field}`).not.toEqual([]);
      for (const trl of records) {
        expect(trl.exists).toBe(true);
        expect(DEFAULT_CONFIG[field]).toEqual(
          FILLED_BY_POST_INIT.includes(field) ? trl.default : trl.resolved,
        );
      }
    },
  );

  it('fields not compared are listed with a reason and are not TRL GRPOConfig fields', () => {
    for (const field of Object.keys(NOT_COMPARED)) {
      expect(CONFIG_FIELDS).toContain(field);
      for (const trl of trlRecords(field)) expect(trl.exists, field).toBe(false);
    }
  });

  it.each(fixture.derived.map((c) => [show(c.kwargs), c] as const))('derived sizes for %s', (_, c) => {
    const config = resolveConfig(c.kwargs);
    const sizes = derivedSizes(config);
    const ourResolved = Object.fromEntries(
      Object.keys(c.resolved).map((k) => [
        k,
        k === 'steps_per_generation'
          ? sizes.microBatchesPerGeneration
          : k === 'generation_batch_size'
            ? sizes.generationBatchSize
            : config[k as keyof GrpoConfig],
      ]),
    );
    expect(ourResolved).toEqual(c.resolved);
  });

  it.each(
    fixture.validation_errors.filter((c) => c.error !== null && ours(c)).map((c) => [c.error, c] as const),
  )('rejects what TRL rejects: %s', (_, c) => {
    errorFor(c.kwargs);
  });

  // TRL's config accepts these (some fail later in GRPOTrainer, some never); each value that is not our
  // default is rejected here on its own, naming its field.
  it.each(
    fixture.validation_errors
      .filter((c) => c.error === null && ours(c))
      .map((c) => [show(c.kwargs), c] as const),
  )('rejects up front what TRL accepts at config time: %s', (_, c) => {
    const changed = Object.entries(c.kwargs).filter(([k, v]) => v !== DEFAULT_CONFIG[k as keyof GrpoConfig]);
    expect(changed).not.toEqual([]);
    for (const [key, value] of changed) expect(errorFor({ [key]: value }).field).toBe(key);
  });

  it.each(fixture.runtime_errors.map((c) => [c.where, c.error, c] as const))(
    'rejects up front what %s rejects: %s',
    (_, trlError, c) => {
      const error = errorFor(c.kwargs);
      expect(Object.keys(c.kwargs)).toContain(error.field);
      // Our message names the allowed values TRL's message names.
      for (const [, allowed] of trlError.matchAll(/'(\w+)'/g))
        expect(error.message).toContain(`'${allowed}'`);
    },
  );

  it('every feature listed as not ours is one a fixture case uses', () => {
    const used = new Set(fixture.validation_errors.flatMap((c) => Object.keys(c.kwargs)));
    for (const key of Object.keys(NOT_OURS)) expect(used, key).toContain(key);
  });
});
