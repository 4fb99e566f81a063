// The config form's inputs: empty fields keep the preset's values, numbers are parsed, and bad or
// contradictory values are errors naming the field, as resolveConfig reports them for config files.
import { describe, expect, it } from 'vitest';
import { PRESETS } from '../../../src/grpo/config.ts';
import { readFormInputs } from '../../../src/ui/training/config-inputs.ts';

describe('readFormInputs', () => {
  it('leaves empty fields to the preset', () => {
    const r = readFormInputs({ max_steps: ' ', learning_rate: '' }, 'nano-demo');
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.layer).toEqual({});
    expect(r.config.max_steps).toBe(PRESETS['nano-demo']!.max_steps);
    expect(r.config.learning_rate).toBe(PRESETS['nano-demo']!.learning_rate);
  });

  it('reads numbers and choices over the preset', () => {
    const r = readFormInputs(
      {
        max_steps: '2',
        num_generations: '2',
        per_device_train_batch_size: '2',
        gradient_accumulation_steps: '1',
        learning_rate: '3e-5',
        loss_type: 'dapo',
      },
      'nano-demo',
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.layer).toEqual({
      max_steps: 2,
      num_generations: 2,
      per_device_train_batch_size: 2,
      gradient_accumulation_steps: 1,
      learning_rate: 3e-5,
      loss_type: 'dapo',
    });
    expect(r.config.temperature).toBe(PRESETS['nano-demo']!.temperature);
  });

  it('names the field of a value that is not a number', () => {
    expect(readFormInputs({ learning_rate: 'fast' }, 'nano-demo')).toEqual({
      ok: false,
      field: 'learning_rate',
      message: "learning_rate: 'fast' is not a number",
    });
  });

  it('names the field resolveConfig rejects', () => {
    const bad = readFormInputs({ num_generations: '1' }, 'nano-demo');
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.field).toBe('num_generations');
    const loss = readFormInputs({ loss_type: 'ppo' }, 'nano-demo');
    expect(loss.ok).toBe(false);
    if (!loss.ok) expect(loss.field).toBe('loss_type');
  });

  it('reads the further settings: booleans, lists, numbers lists, null and text', () => {
    const r = readFormInputs(
      {
        use_peft: 'true',
        lora_r: '8',
        lora_target_modules: 'q_proj, v_proj,',
        reward_funcs: 'grounding,format',
        reward_weights: '1, 0.5',
        eval_steps: 'none',
        mask_truncated_completions: 'false',
        system_prompt: 'Answer with a box.',
        scale_rewards: 'batch',
      },
      'nano-demo',
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.layer).toEqual({
      use_peft: true,
      lora_r: 8,
      lora_target_modules: ['q_proj', 'v_proj'],
      reward_funcs: ['grounding', 'format'],
      reward_weights: [1, 0.5],
      eval_steps: null,
      mask_truncated_completions: false,
      system_prompt: 'Answer with a box.',
      scale_rewards: 'batch',
    });
    expect(r.config.use_peft).toBe(true);
    expect(r.config.eval_steps).toBeNull();
  });

  it('names the further field that is wrong', () => {
    expect(readFormInputs({ reward_weights: '1, x' }, 'nano-demo')).toEqual({
      ok: false,
      field: 'reward_weights',
      message: "reward_weights: 'x' is not a number",
    });
    const unknown = readFormInputs({ reward_funcs: 'grounding, no-such-reward' }, 'nano-demo');
    expect(unknown.ok).toBe(false);
    if (!unknown.ok) expect(unknown.field).toBe('reward_funcs');
    const weights = readFormInputs({ reward_weights: '1, 2, 3' }, 'nano-demo');
    expect(weights.ok).toBe(false);
    if (!weights.ok) expect(weights.field).toBe('reward_weights');
  });

  it('passes the configuration warnings on', () => {
    const r = readFormInputs({ loss_type: 'cispo' }, 'nano-demo');
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.warnings.join('\n')).toMatch(/epsilon_high/);
  });
});
