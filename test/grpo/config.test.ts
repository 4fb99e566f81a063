// The training configuration: defaults against TRL 1.13 / transformers 5.18 (numbers copied from their
// source, not from config.ts), aliases, every validation rule, presets, derived sizes and step counts
// worked out by hand (and checked once against TRL's RepeatSampler + transformers'
// set_initial_training_values), and reading JSON / YAML files.
import { describe, expect, it } from 'vitest';
import {
  CONFIG_FIELDS,
  configToJson,
  DEFAULT_CONFIG,
  derivedSizes,
  type GrpoConfig,
  GrpoConfigError,
  intervalSteps,
  PRESETS,
  resolveConfig,
  totalOptimizerSteps,
  trlKwargs,
  warmupSteps,
} from '../../src/grpo/config.ts';
import { GrpoConfigFileError, parseConfigText } from '../../src/grpo/config-file.ts';

/** The error resolveConfig throws for `input` (fails the test when none is thrown). */
function errorFor(input: Record<string, unknown>, options = {}): GrpoConfigError {
  try {
    resolveConfig(input, options);
  } catch (e) {
    expect(e).toBeInstanceOf(GrpoConfigError);
    return e as GrpoConfigError;
  }
  throw new Error(`no error for ${JSON.stringify(input)}`);
}

function fileErrorFor(text: string, file: string, options = {}): GrpoConfigFileError {
  try {
    parseConfigText(text, file, options);
  } catch (e) {
    expect(e).toBeInstanceOf(GrpoConfigFileError);
    return e as GrpoConfigFileError;
  }
  throw new Error(`no error for ${file}`);
}

describe('defaults', () => {
  it("equal TRL 1.13's GRPOConfig and transformers 5.18's TrainingArguments", () => {
    const trl = {
      // trl/trainer/grpo_config.py
      learning_rate: 1e-6, // 422: overrides TrainingArguments' 5e-5
      num_generations: 8, // 479
      max_completion_length: 512, // 493
      generation_batch_size: null, // 516
      steps_per_generation: null, // 523
      temperature: 1.0, // 527
      top_p: 1.0, // 531
      top_k: 0, // 538
      beta: 0.0, // 676
      num_iterations: 1, // 684
      epsilon: 0.2, // 688
      delta: null, // 692
      epsilon_high: null, // 700
      sapo_temperature_neg: 1.05, // 709
      sapo_temperature_pos: 1.0, // 717
      vespo_k_pos: 2.0, // 725
      vespo_lambda_pos: 3.0, // 732
      vespo_k_neg: 3.0, // 740
      vespo_lambda_neg: 2.0, // 747
      importance_sampling_level: 'token', // 755
      reward_weights: null, // 765
      multi_objective_aggregation: 'sum_then_normalize', // 772
      scale_rewards: 'group', // 784
      loss_type: 'dapo', // 796
      mask_truncated_completions: false, // 831
      top_entropy_quantile: 1.0, // 861
      off_policy_mask_threshold: null, // 958
      use_bias_correction_kl: true, // 967
      // trl/trainer/base_config.py
      logging_steps: 10, // 54: overrides TrainingArguments' 500
      // transformers/training_args.py
      per_device_train_batch_size: 8, // 775
      num_train_epochs: 3.0, // 776
      max_steps: -1, // 777
      lr_scheduler_type: 'linear', // 786
      warmup_steps: 0, // 796
      weight_decay: 0.0, // 820
      adam_beta1: 0.9, // 826
      adam_beta2: 0.999, // 832
      adam_epsilon: 1e-8, // 838
      gradient_accumulation_steps: 1, // 847
      max_grad_norm: 1.0, // 864
      eval_steps: null, // 1092
      save_steps: 500, // 1165
      seed: 42, // 1275
      // trl/trainer/model_config.py
      use_peft: false, // 103
      lora_r: 16, // 107
      lora_alpha: 32, // 111
      lora_dropout: 0.05, // 115
    };
    const config = resolveConfig({});
    const picked = Object.fromEntries(Object.keys(trl).map((k) => [k, config[k as keyof GrpoConfig]]));
    expect(picked).toEqual(trl);
  });

  it('fill the fields TRL lacks as documented', () => {
    const config = resolveConfig({});
    expect(config).toMatchObject({
      max_prompt_length: null,
      warmup_ratio: 0, // transformers 4.x's default
      reward_funcs: ['grounding', 'format'],
      lora_target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
      min_pixels: null,
      max_pixels: null,
      box_space: 'auto',
      answer_form: 'list',
      iou_threshold: 0.5,
      system_prompt: null,
      assistant_prefill: 'Let me analyze this image.\n<think>',
      weight_dtype: 'auto',
    });
  });

  it('are copied, not shared', () => {
    const a = resolveConfig({});
    a.reward_funcs.push('x');
    (a.lora_target_modules as string[]).pop();
    expect(resolveConfig({}).reward_funcs).toEqual(['grounding', 'format']);
    expect(DEFAULT_CONFIG.lora_target_modules).toHaveLength(7);
  });
});

describe('input', () => {
  it('overrides defaults; undefined values count as absent', () => {
    const c = resolveConfig({ beta: 0.04, temperature: undefined, loss_type: 'grpo' });
    expect(c.beta).toBe(0.04);
    expect(c.temperature).toBe(1.0);
    expect(c.loss_type).toBe('grpo');
  });

  it('scale_rewards: true -> group, false -> none', () => {
    expect(resolveConfig({ scale_rewards: true }).scale_rewards).toBe('group');
    expect(resolveConfig({ scale_rewards: false }).scale_rewards).toBe('none');
    expect(resolveConfig({ scale_rewards: 'batch' }).scale_rewards).toBe('batch');
  });

  it('accepts a regex string for lora_target_modules and fractional interval steps', () => {
    const c = resolveConfig({ lora_target_modules: '.*(q|v)_proj', logging_steps: 0.1, warmup_steps: 0.05 });
    expect(c.lora_target_modules).toBe('.*(q|v)_proj');
    expect(c.logging_steps).toBe(0.1);
  });

  it('drops bookkeeping TRL keys with a warning and accepts unsupported TRL options at their defaults', () => {
    const warnings: string[] = [];
    const c = resolveConfig(
      {
        output_dir: 'out',
        bf16: true,
        report_to: 'wandb',
        use_vllm: false,
        optim: 'adamw_torch',
        beta: 0.01,
      },
      { onWarning: (m) => warnings.push(m) },
    );
    expect(c.beta).toBe(0.01);
    expect(warnings).toHaveLength(3);
    expect(warnings[0]).toContain('output_dir');
    expect(configToJson(c)).not.toHaveProperty('output_dir');
  });
});

describe('validation', () => {
  // [input, the field the error names, a fragment of the message]
  const cases: [Record<string, unknown>, string, string][] = [
    // types
    [
      { learning_rate: '0.1' },
      'learning_rate',
      'learning_rate must be a finite number >= 0, got the string "0.1"',
    ],
    [{ learning_rate: '0.1' }, 'learning_rate', 'without quotes'],
    [{ beta: null }, 'beta', 'beta must be a finite number >= 0, got null'],
    [{ temperature: Number.POSITIVE_INFINITY }, 'temperature', 'got Infinity'],
    [{ use_peft: 'yes' }, 'use_peft', 'use_peft must be true or false, got the string "yes"'],
    [{ num_generations: 4.5 }, 'num_generations', 'got 4.5'],
    [{ system_prompt: 3 }, 'system_prompt', 'system_prompt must be a string, got 3'],
    [{ reward_funcs: 'grounding' }, 'reward_funcs', 'non-empty list'],
    [{ reward_funcs: [] }, 'reward_funcs', 'non-empty list'],
    [{ reward_funcs: ['format', 7] }, 'reward_funcs[1]', 'got 7'],
    [{ reward_funcs: ['format', 'format'] }, 'reward_funcs', '"format" twice'],
    [{ reward_weights: [1, '2'] }, 'reward_weights[1]', 'the string "2"'],
    [{ reward_weights: 1 }, 'reward_weights', 'a list of numbers'],
    [{ lora_target_modules: [] }, 'lora_target_modules', 'non-empty list'],
    [{ lora_target_modules: '(q_proj' }, 'lora_target_modules', 'not a valid regular expression'],
    // enumerations
    [
      { loss_type: 'gspo' },
      'loss_type',
      "loss_type must be one of 'grpo', 'bnpo', 'dr_grpo', 'dapo', 'cispo', 'sapo', 'luspo', 'vespo'",
    ],
    [{ loss_type: 'dapo ' }, 'loss_type', "did you mean 'dapo'?"],
    [{ scale_rewards: 'std' }, 'scale_rewards', "'group', 'batch', 'none'"],
    [{ multi_objective_aggregation: 'sum' }, 'multi_objective_aggregation', 'sum_then_normalize'],
    [{ importance_sampling_level: 'seq' }, 'importance_sampling_level', "'token', 'sequence'"],
    [
      { lr_scheduler_type: 'cosine_with_restarts' },
      'lr_scheduler_type',
      "'cosine_with_restarts' is a transformers schedule this trainer does not implement; use one of 'constant', " +
        "'constant_with_warmup', 'linear', 'cosine'",
    ],
    [
      { lr_scheduler_type: 'cosnie' },
      'lr_scheduler_type',
      "'constant', 'constant_with_warmup', 'linear', 'cosine'",
    ],
    [{ box_space: 'xyxy' }, 'box_space', "'auto', 'pixels', 'input-pixels', 'norm1000', 'norm1'"],
    [{ answer_form: 'json' }, 'answer_form', "'list', 'bbox', 'bbox_2d', 'qwen2vl'"],
    [{ weight_dtype: 'bf16' }, 'weight_dtype', "'auto', 'f32', 'f16'"],
    // ranges
    [
      { num_generations: 1, per_device_train_batch_size: 1 },
      'num_generations',
      'an integer >= 2 (GRPO compares',
    ],
    [{ max_completion_length: 0 }, 'max_completion_length', 'an integer >= 1, got 0'],
    [{ max_prompt_length: 0 }, 'max_prompt_length', 'an integer >= 1, got 0'],
    [{ temperature: 0 }, 'temperature', 'a finite number > 0, got 0'],
    [{ top_p: 0 }, 'top_p', 'in (0, 1], got 0'],
    [{ top_p: 1.5 }, 'top_p', 'in (0, 1], got 1.5'],
    [{ top_k: -1 }, 'top_k', '>= 0, got -1'],
    [{ beta: -0.1 }, 'beta', '>= 0, got -0.1'],
    [{ epsilon: 0 }, 'epsilon', '> 0, got 0'],
    [{ epsilon_high: -1 }, 'epsilon_high', '> 0, got -1'],
    [{ delta: 0 }, 'delta', '> 0, got 0'],
    [{ num_iterations: 0 }, 'num_iterations', '>= 1, got 0'],
    [{ steps_per_generation: 0 }, 'steps_per_generation', '>= 1, got 0'],
    [{ generation_batch_size: -8 }, 'generation_batch_size', '>= 1, got -8'],
    [{ top_entropy_quantile: 1.2 }, 'top_entropy_quantile', 'in [0, 1], got 1.2'],
    [{ off_policy_mask_threshold: 0 }, 'off_policy_mask_threshold', '> 0, got 0'],
    [{ sapo_temperature_neg: 0 }, 'sapo_temperature_neg', '> 0'],
    [{ vespo_k_pos: -1 }, 'vespo_k_pos', '>= 0'],
    [{ learning_rate: -1e-6 }, 'learning_rate', '>= 0'],
    [{ warmup_ratio: 1 }, 'warmup_ratio', 'in [0, 1), got 1'],
    [
      { warmup_steps: 2.5 },
      'warmup_steps',
      'a whole number of steps >= 0, or a ratio of the total steps in (0, 1), got 2.5',
    ],
    [{ warmup_steps: -1 }, 'warmup_steps', 'got -1'],
    [{ per_device_train_batch_size: 0 }, 'per_device_train_batch_size', '>= 1, got 0'],
    [{ gradient_accumulation_steps: 1.5 }, 'gradient_accumulation_steps', 'got 1.5'],
    [{ max_grad_norm: -1 }, 'max_grad_norm', '>= 0'],
    [{ weight_decay: -0.1 }, 'weight_decay', '>= 0'],
    [{ adam_beta1: 1 }, 'adam_beta1', 'in [0, 1), got 1'],
    [{ adam_beta2: -0.1 }, 'adam_beta2', 'in [0, 1)'],
    [{ adam_epsilon: -1 }, 'adam_epsilon', '>= 0'],
    [{ seed: -1 }, 'seed', 'in [0, 4294967295], got -1'],
    [{ seed: 1.5 }, 'seed', 'got 1.5'],
    [{ max_steps: 0 }, 'max_steps', 'a positive integer, or -1 to train for num_train_epochs; got 0'],
    [{ max_steps: -2 }, 'max_steps', 'got -2'],
    [{ num_train_epochs: 0 }, 'num_train_epochs', '> 0, got 0'],
    [
      { logging_steps: 0 },
      'logging_steps',
      'a whole number of steps >= 1, or a ratio of the total steps in (0, 1), got 0',
    ],
    [{ logging_steps: 2.5 }, 'logging_steps', 'got 2.5'],
    [{ eval_steps: -5 }, 'eval_steps', 'got -5'],
    [{ save_steps: 1.5 }, 'save_steps', 'got 1.5'],
    [{ lora_r: 0 }, 'lora_r', '>= 1, got 0'],
    [{ lora_alpha: 0 }, 'lora_alpha', '> 0, got 0'],
    [{ lora_dropout: 1 }, 'lora_dropout', 'in [0, 1), got 1'],
    [{ min_pixels: 0 }, 'min_pixels', '>= 1, got 0'],
    [{ max_pixels: 12.5 }, 'max_pixels', 'got 12.5'],
    [{ iou_threshold: 1.5 }, 'iou_threshold', 'in [0, 1], got 1.5'],
    [{ assistant_prefill: null }, 'assistant_prefill', 'must be a string, got null'],
    // TRL's __post_init__ rules
    [
      { generation_batch_size: 16, steps_per_generation: 2 },
      'generation_batch_size',
      'generation_batch_size (16) and steps_per_generation (2) cannot both be set',
    ],
    [
      { generation_batch_size: 20, per_device_train_batch_size: 8 },
      'generation_batch_size',
      'generation_batch_size (20) must be divisible by per_device_train_batch_size (8)',
    ],
    [
      { generation_batch_size: 24, num_generations: 16 },
      'generation_batch_size',
      'generation_batch_size (24) must be divisible by num_generations (16)',
    ],
    [
      { per_device_train_batch_size: 8, steps_per_generation: 3, num_generations: 5 },
      'num_generations',
      'per_device_train_batch_size x steps_per_generation (8 x 3 = 24) must be divisible by num_generations (5)',
    ],
    [
      { per_device_train_batch_size: 4, gradient_accumulation_steps: 3, num_generations: 8 },
      'num_generations',
      'per_device_train_batch_size x gradient_accumulation_steps (4 x 3 = 12) must be divisible by num_generations (8)',
    ],
    [{ num_generations: 6 }, 'num_generations', '(8 x 1 = 8) must be divisible by num_generations (6)'],
    // other contradictions
    [
      { reward_weights: [1] },
      'reward_weights',
      'reward_weights has 1 weights ([1]) but reward_funcs has 2 functions (["grounding","format"])',
    ],
    [{ min_pixels: 1000, max_pixels: 999 }, 'min_pixels', 'min_pixels (1000) must be <= max_pixels (999)'],
    [
      { warmup_steps: 10, warmup_ratio: 0.1 },
      'warmup_steps',
      'warmup_steps (10) and warmup_ratio (0.1) are both set',
    ],
    // keys
    [{ learning_rat: 1e-5 }, 'learning_rat', "unknown option 'learning_rat'; did you mean 'learning_rate'?"],
    [{ lr_scheduler: 'linear' }, 'lr_scheduler', "did you mean 'lr_scheduler_type'?"],
    [{ num_generation: 8 }, 'num_generation', "did you mean 'num_generations'?"],
    [{ zzzzzz: 1 }, 'zzzzzz', "unknown option 'zzzzzz'"],
    [
      { use_vllm: true },
      'use_vllm',
      'use_vllm true is not supported: this trainer does not implement that TRL feature; only false',
    ],
    [{ entropy_coef: 0.01 }, 'entropy_coef', 'only 0'],
  ];

  it.each(cases)('%j -> %s', (input, field, fragment) => {
    const e = errorFor(input);
    expect(e.field).toBe(field);
    expect(e.message).toContain(fragment);
    expect(e.message).toContain(field.replace(/\[\d+\]$/, ''));
  });

  it('needs reward_funcs to be known when a registry is given', () => {
    const e = errorFor(
      { reward_funcs: ['grounding', 'fromat'] },
      { knownRewards: ['grounding', 'format', 'iou'] },
    );
    expect(e.field).toBe('reward_funcs');
    expect(e.message).toContain('unknown reward function "fromat" (did you mean "format"?)');
    expect(e.message).toContain('known: "grounding", "format", "iou"');
    expect(
      resolveConfig({ reward_funcs: ['iou'] }, { knownRewards: ['grounding', 'format', 'iou'] }).reward_funcs,
    ).toEqual(['iou']);
  });

  it('rejects a non-object input', () => {
    expect(() => resolveConfig([] as unknown as Record<string, unknown>)).toThrow(GrpoConfigError);
  });

  it("passes on TRL's warnings", () => {
    const seen = (input: Record<string, unknown>) => {
      const warnings: string[] = [];
      resolveConfig(input, { onWarning: (m) => warnings.push(m) });
      return warnings.join('\n');
    };
    expect(seen({ loss_type: 'luspo' })).toContain("importance_sampling_level 'sequence'");
    expect(seen({ loss_type: 'vespo', importance_sampling_level: 'sequence' })).toContain(
      "should be 'token'",
    );
    expect(seen({ importance_sampling_level: 'sequence' })).toContain("loss_type 'dapo'");
    expect(seen({ loss_type: 'cispo' })).toContain('epsilon_high');
    expect(seen({ delta: 1.1 })).toContain('delta (1.1)');
    expect(seen({ lr_scheduler_type: 'constant', warmup_steps: 5 })).toContain('constant_with_warmup');
    expect(seen({})).toBe('');
  });
});

describe('presets', () => {
  it('all validate', () => {
    for (const name of Object.keys(PRESETS)) expect(() => resolveConfig({}, { preset: name })).not.toThrow();
  });

  it("tutorial: the Vision_GRPO tutorial's settings", () => {
    const c = resolveConfig({}, { preset: 'tutorial' });
    expect(c).toMatchObject({
      beta: 0.04,
      num_generations: 8,
      learning_rate: 1e-6,
      max_completion_length: 256,
      max_prompt_length: 1280,
      loss_type: 'grpo',
      temperature: 1.0,
      use_bias_correction_kl: false,
      use_peft: false,
      lr_scheduler_type: 'linear',
      min_pixels: 3136,
      max_pixels: 12845056,
    });
    // 8 GPUs x 1 completion x 2 accumulation steps in the tutorial: 16 completions, 2 prompts per update.
    expect(derivedSizes(c)).toEqual({
      generationBatchSize: 16,
      promptsPerGeneration: 2,
      microBatchesPerGeneration: 2,
    });
  });

  it('nano-demo: a full fine-tuning run of 300 steps, 16 prompts per step', () => {
    const c = resolveConfig({}, { preset: 'nano-demo' });
    expect(c).toMatchObject({
      num_generations: 8,
      per_device_train_batch_size: 32,
      gradient_accumulation_steps: 4,
      max_completion_length: 64,
      loss_type: 'grpo',
      beta: 0,
      use_peft: false,
      learning_rate: 1e-4,
      lr_scheduler_type: 'constant',
      max_steps: 300,
      logging_steps: 1,
      save_steps: 50,
      eval_steps: 50,
      box_space: 'auto',
      temperature: 0.7,
    });
    expect(derivedSizes(c).promptsPerGeneration).toBe(16);
    expect(totalOptimizerSteps(c, 100)).toBe(300);
  });

  it('sit between the defaults and the input', () => {
    const c = resolveConfig({ beta: 0.1 }, { preset: 'tutorial' });
    expect(c.beta).toBe(0.1);
    expect(c.max_completion_length).toBe(256);
    expect(c.epsilon).toBe(0.2);
  });

  it('unknown names are errors with a suggestion', () => {
    const e = errorFor({}, { preset: 'nano' });
    expect(e.field).toBe('preset');
    expect(e.message).toContain("unknown preset 'nano' (did you mean 'nano-demo'?)");
  });
});

describe('derived values', () => {
  it('derivedSizes follows GRPOConfig.__post_init__', () => {
    // Defaults: steps_per_generation = gradient_accumulation_steps = 1; 8 completions = 1 prompt.
    expect(derivedSizes(resolveConfig({}))).toEqual({
      generationBatchSize: 8,
      promptsPerGeneration: 1,
      microBatchesPerGeneration: 1,
    });
    // steps_per_generation given: 6 x 3 = 18 completions of 3 = 6 prompts.
    expect(
      derivedSizes(
        resolveConfig({ per_device_train_batch_size: 6, steps_per_generation: 3, num_generations: 3 }),
      ),
    ).toEqual({ generationBatchSize: 18, promptsPerGeneration: 6, microBatchesPerGeneration: 3 });
    // generation_batch_size given: 32 / 4 = 8 micro-batches, 32 / 16 = 2 prompts.
    expect(
      derivedSizes(
        resolveConfig({ per_device_train_batch_size: 4, generation_batch_size: 32, num_generations: 16 }),
      ),
    ).toEqual({ generationBatchSize: 32, promptsPerGeneration: 2, microBatchesPerGeneration: 8 });
  });

  // Each case: P prompts per generation, S = steps_per_generation; micro-batches per epoch =
  // floor(rows / P) x num_iterations x S; updates per epoch = ceil(that / GA); total = ceil(epochs x updates).
  // The same numbers came out of TRL's RepeatSampler + DataLoader + Trainer.set_initial_training_values.
  const stepCases: [string, Record<string, unknown>, number, number][] = [
    ['defaults: P 1, S 1, GA 1: 1000 x 3 epochs', {}, 1000, 3000],
    ['P 2, S 2, GA 2: 50 x 2 = 100 micro, 50 updates x 3', { gradient_accumulation_steps: 2 }, 100, 150],
    [
      'P 8 (32 / 4), S 4, GA 4: floor(101 / 8) = 12 x 4 = 48 micro, 12 updates',
      { gradient_accumulation_steps: 4, num_generations: 4, num_train_epochs: 1 },
      101,
      12,
    ],
    [
      'P 6, S 3, GA 2: floor(50 / 6) = 8 x 3 = 24 micro, 12 updates x 2 epochs',
      {
        per_device_train_batch_size: 6,
        gradient_accumulation_steps: 2,
        steps_per_generation: 3,
        num_generations: 3,
        num_train_epochs: 2,
      },
      50,
      24,
    ],
    [
      'the same with num_iterations 2: 48 micro, 24 updates x 2',
      {
        per_device_train_batch_size: 6,
        gradient_accumulation_steps: 2,
        steps_per_generation: 3,
        num_generations: 3,
        num_train_epochs: 2,
        num_iterations: 2,
      },
      50,
      48,
    ],
    [
      'P 6, S 3, GA 4: 7 x 3 = 21 micro, ceil(21 / 4) = 6 updates',
      {
        per_device_train_batch_size: 6,
        gradient_accumulation_steps: 4,
        steps_per_generation: 3,
        num_generations: 3,
        num_train_epochs: 1,
      },
      44,
      6,
    ],
    [
      'generation_batch_size 8 / 4 = S 2, P 2, GA 3: 15 x 2 = 30 micro, 10 updates x 0.5',
      {
        per_device_train_batch_size: 4,
        gradient_accumulation_steps: 3,
        generation_batch_size: 8,
        num_generations: 4,
        num_train_epochs: 0.5,
      },
      30,
      5,
    ],
    [
      'P 2, S 2, GA 2: floor(7 / 2) = 3 x 2 = 6 micro, 3 updates x 1.5 = 4.5 -> 5',
      { gradient_accumulation_steps: 2, num_train_epochs: 1.5 },
      7,
      5,
    ],
    [
      "0.07 x 100 updates = 7.000000000000001 -> 8, as in Python's float arithmetic",
      { gradient_accumulation_steps: 2, num_train_epochs: 0.07 },
      200,
      8,
    ],
    ['max_steps wins', { max_steps: 37 }, 1000, 37],
  ];

  it.each(stepCases)('totalOptimizerSteps: %s', (_, input, rows, expected) => {
    expect(totalOptimizerSteps(resolveConfig(input), rows)).toBe(expected);
  });

  it('totalOptimizerSteps rejects a dataset smaller than one generation batch', () => {
    const c = resolveConfig({ gradient_accumulation_steps: 4 }); // 32 completions = 4 prompts
    expect(() => totalOptimizerSteps(c, 3)).toThrow(/dataset has 3 rows, fewer than the 4 prompts/);
    expect(totalOptimizerSteps(c, 4)).toBe(3);
    expect(() => totalOptimizerSteps(c, -1)).toThrow(RangeError);
  });

  it('warmupSteps: steps, a ratio in warmup_steps (transformers 5), or warmup_ratio', () => {
    expect(warmupSteps(resolveConfig({}), 100)).toBe(0);
    expect(warmupSteps(resolveConfig({ warmup_steps: 7 }), 100)).toBe(7);
    expect(warmupSteps(resolveConfig({ warmup_steps: 1 }), 100)).toBe(1);
    expect(warmupSteps(resolveConfig({ warmup_steps: 0.25 }), 37)).toBe(10); // ceil(9.25)
    expect(warmupSteps(resolveConfig({ warmup_steps: 0.1 }), 5)).toBe(1); // ceil(0.5)
    expect(warmupSteps(resolveConfig({ warmup_ratio: 0.1 }), 95)).toBe(10); // ceil(9.5)
    expect(warmupSteps(resolveConfig({ warmup_ratio: 0.05 }), 300)).toBe(15);
  });

  it('intervalSteps turns ratios into steps', () => {
    expect(intervalSteps(10, 300)).toBe(10);
    expect(intervalSteps(0.1, 95)).toBe(10);
    expect(intervalSteps(1, 95)).toBe(1);
  });
});

describe('export', () => {
  it('configToJson round-trips through resolveConfig and JSON', () => {
    const configs = [
      resolveConfig({}),
      ...Object.keys(PRESETS).map((preset) => resolveConfig({}, { preset })),
      resolveConfig({
        scale_rewards: false,
        generation_batch_size: 32,
        reward_weights: [1, 0.5],
        lora_target_modules: '.*proj',
        system_prompt: 'Find it.',
        warmup_ratio: 0.1,
      }),
    ];
    for (const c of configs) {
      const json = JSON.parse(JSON.stringify(configToJson(c)));
      expect(Object.keys(json).sort()).toEqual([...CONFIG_FIELDS].sort());
      expect(resolveConfig(json)).toEqual(c);
    }
  });

  it('trlKwargs splits GRPOConfig and ModelConfig keyword arguments', () => {
    const { grpoConfig, modelConfig } = trlKwargs(
      resolveConfig({ warmup_ratio: 0.1, eval_steps: 20, use_peft: true }),
    );
    expect(modelConfig).toEqual({
      use_peft: true,
      lora_r: 16,
      lora_alpha: 32,
      lora_dropout: 0.05,
      lora_target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
    });
    expect(grpoConfig).toMatchObject({
      warmup_steps: 0.1,
      eval_steps: 20,
      eval_strategy: 'steps',
      loss_type: 'dapo',
    });
    for (const key of [
      'warmup_ratio',
      'max_prompt_length',
      'reward_funcs',
      'box_space',
      'use_peft',
      'lora_r',
    ])
      expect(grpoConfig).not.toHaveProperty(key);
  });
});

describe('parseConfigText', () => {
  const yaml = [
    '# a TRL-style recipe',
    'output_dir: ./checkpoints/run',
    'per_device_train_batch_size: 8',
    'gradient_accumulation_steps: 2',
    'learning_rate: 1.0e-6',
    'lr_scheduler_type: linear',
    'beta: 0.04',
    'scale_rewards: false',
    'max_completion_length: 256',
    'num_generations: 8',
    'lora_target_modules:',
    '  - q_proj',
    '  - v_proj',
    'system_prompt: ~',
    'max_pixels: 12845056  # pixels',
    '',
  ].join('\n');

  it('reads YAML', () => {
    const c = parseConfigText(yaml, 'recipe.yaml');
    expect(c).toMatchObject({
      per_device_train_batch_size: 8,
      gradient_accumulation_steps: 2,
      learning_rate: 1e-6,
      beta: 0.04,
      scale_rewards: 'none',
      lora_target_modules: ['q_proj', 'v_proj'],
      system_prompt: null,
      max_pixels: 12845056,
    });
  });

  it('reads JSON', () => {
    const text = JSON.stringify({ loss_type: 'bnpo', reward_weights: [2, 1], eval_steps: 25 }, null, 2);
    expect(parseConfigText(text, 'run.json')).toMatchObject({
      loss_type: 'bnpo',
      reward_weights: [2, 1],
      eval_steps: 25,
    });
  });

  it('without a known extension: JSON first, then YAML', () => {
    expect(parseConfigText('{"beta": 0.5}', 'config').beta).toBe(0.5);
    expect(parseConfigText('beta: 0.25\n', 'config.txt').beta).toBe(0.25);
  });

  it('a YAML syntax error names the file and the line', () => {
    const e = fileErrorFor('beta: 0.04\nreward_funcs: [grounding, format\nseed: 1\n', 'bad.yaml');
    expect(e.file).toBe('bad.yaml');
    expect(e.line).toBe(3);
    expect(e.message).toMatch(/^bad\.yaml \(line 3\): YAML syntax error/);
  });

  it('a JSON syntax error names the file and the line', () => {
    const e = fileErrorFor('{\n  "beta": 0.04,\n  "seed": 1,\n}\n', 'bad.json');
    expect(e.line).toBe(4);
    expect(e.message).toMatch(/^bad\.json \(line 4\): JSON syntax error/);
  });

  it.each([
    ['{\n  "a": 1,\n}', 3, 'column 1: unexpected "}"'],
    ['{"a": 1,\n "b": }', 2, 'column 7: unexpected "}"'],
    ['{\n "a": "x\n"}', 2, 'column 9: unexpected "\\n"'],
    ['{\n "a": tru }', 2, 'column 10: unexpected " "'],
    ['{\n\n  "a" 1}', 3, 'column 7: unexpected "1"'],
    ['{\n "a": 1\n', 3, 'column 1: the text ends too early'],
    ['{"a": 1}\n{', 2, 'column 1: unexpected "{"'],
    ['{"a": 01}', 1, 'column 8: unexpected "1"'],
  ])('locates the JSON syntax error in %j', (text, line, what) => {
    const e = fileErrorFor(text, 'x.json');
    expect(e.line).toBe(line);
    expect(e.message).toBe(`x.json (line ${line}): JSON syntax error at ${what}`);
  });

  it('a duplicate YAML key is a syntax error', () => {
    expect(fileErrorFor('beta: 0.1\nbeta: 0.2\n', 'dup.yml').line).toBe(2);
  });

  it('a bad value names the file, the line of the key and the field', () => {
    const e = fileErrorFor('beta: 0.04\nlearning_rate: "1e-6"\n', 'lr.yaml');
    expect(e).toBeInstanceOf(GrpoConfigError);
    expect(e.field).toBe('learning_rate');
    expect(e.line).toBe(2);
    expect(e.message).toBe(
      'lr.yaml (line 2): learning_rate must be a finite number >= 0, got the string "1e-6" (write the number without quotes)',
    );
    const j = fileErrorFor('{\n  "seed": 1,\n  "lossType": "grpo"\n}', 'x.json');
    expect(j.line).toBe(3);
    expect(j.message).toContain("unknown option 'lossType'; did you mean 'loss_type'?");
    const w = fileErrorFor('reward_funcs: [a, b, c]\nreward_weights: [1, x]\n', 'w.yaml');
    expect(w.field).toBe('reward_weights[1]');
    expect(w.line).toBe(2);
  });

  it('YAML 1.1 booleans stay strings and are named as such', () => {
    expect(fileErrorFor('use_peft: yes\n', 'p.yaml').message).toContain(
      'use_peft must be true or false, got the string "yes"',
    );
  });

  it('rejects an empty file and a non-mapping', () => {
    expect(fileErrorFor('', 'empty.yaml').message).toContain('the file is empty');
    expect(fileErrorFor('# nothing\n', 'empty.yml').message).toContain('the file is empty');
    expect(fileErrorFor('- beta\n', 'list.yaml').message).toContain('not a list');
    expect(fileErrorFor('[1]', 'list.json').message).toContain('not a list');
    expect(fileErrorFor(' \n', 'empty.json').message).toContain('the file is empty');
  });

  it('a preset key picks a preset under the file', () => {
    const c = parseConfigText('preset: nano-demo\nmax_steps: 20\n', 'nano.yaml');
    expect(c.max_steps).toBe(20);
    expect(c.learning_rate).toBe(1e-4);
    expect(parseConfigText('preset: tutorial\n', 't.yaml', { preset: 'tutorial' }).beta).toBe(0.04);
    const e = fileErrorFor('preset: tutorial\n', 't.yaml', { preset: 'nano-demo' });
    expect(e.field).toBe('preset');
    expect(e.line).toBe(1);
    expect(fileErrorFor('beta: 0\npreset: nope\n', 'n.yaml').line).toBe(2);
  });

  it('passes the options on', () => {
    const warnings: string[] = [];
    parseConfigText(yaml, 'recipe.yaml', { onWarning: (m) => warnings.push(m) });
    expect(warnings.join()).toContain('output_dir');
    const e = fileErrorFor('reward_funcs: [grounding, iou]\n', 'r.yaml', {
      knownRewards: ['grounding', 'format'],
    });
    expect(e.line).toBe(1);
  });
});

describe('TRL config files', () => {
  it("read as they are: TRL's defaults of options this trainer lacks are accepted", () => {
    const c = resolveConfig({
      eval_strategy: 'no',
      num_generations_eval: null,
      disable_dropout: false,
      use_vllm: false,
    });
    expect(c).toEqual(resolveConfig({}));
    expect(() => resolveConfig({ disable_dropout: true })).toThrow(GrpoConfigError);
  });
});
