// The GRPO loop on the nano checkpoint in Node: a few steps of full fine-tuning and of LoRA with a
// reference policy and reused generations (old log-probs) give finite losses and TRL's metric names,
// change the trainable weights and leave frozen ones alone, and yield a record for every prompt. A
// test reward with spread makes the advantages non-zero whatever nano writes.
import { describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/context.ts';
import { GrpoConfigError } from '../../src/grpo/config.ts';
import type { Weights } from '../../src/model/weights.ts';
import { setupGpu } from '../helpers.ts';
import { LENGTH_REWARD, nanoRun } from './nano-run.ts';

const gpu = setupGpu();

async function snapshot(g: Gpu, weights: Weights, names: string[]): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const n of names) out.set(n, Float32Array.from(await g.read(weights.get(n)!)));
  return out;
}

const changed = (a: Float32Array, b: Float32Array) => a.some((v, i) => v !== b[i]);

const setup = (g: Gpu, overrides: Record<string, unknown>) => nanoRun(g, overrides);

describe('GRPO training steps on nano', () => {
  it('full fine-tuning: finite losses, TRL metrics, every weight trained', async () => {
    const g = gpu();
    const run = await setup(g, { max_steps: 3 });
    const { trainer, weights } = run;
    const names = [
      'model.layers.0.self_attn.q_proj.weight',
      'visual.blocks.0.attn.qkv.weight',
      'model.norm.weight',
    ];
    const before = await snapshot(g, weights, names);
    const reports = [];
    while (!trainer.done) reports.push(await trainer.trainStep());
    expect(reports.map((r) => r.step)).toEqual([1, 2, 3]);
    for (const r of reports) {
      expect(r.skipped).toBeUndefined();
      expect(Number.isFinite(r.metrics.loss)).toBe(true);
      expect(r.logged).toBeDefined();
      for (const name of [
        'loss',
        'reward',
        'reward_std',
        `rewards/${LENGTH_REWARD}/mean`,
        'rewards/format/std',
        'frac_reward_zero_std',
        'entropy',
        'clip_ratio/low_mean',
        'clip_ratio/high_max',
        'completions/mean_length',
        'completions/clipped_ratio',
        'grad_norm',
        'learning_rate',
        'num_tokens',
        'step_time',
      ])
        expect(r.logged, name).toHaveProperty([name]);
      expect(r.logged!.grad_norm).toBeGreaterThan(0);
      // One generation of 2 prompts x G 4 per step (steps_per_generation = GA = 2).
      expect(r.records).toHaveLength(2);
      for (const rec of r.records) {
        expect(rec.completions).toHaveLength(4);
        const adv = rec.completions.map((x) => x.advantage);
        expect(Math.abs(adv.reduce((a, b) => a + b, 0))).toBeLessThan(1e-6);
        for (const x of rec.completions) expect(Object.keys(x.rewards)).toEqual([LENGTH_REWARD, 'format']);
      }
    }
    const after = await snapshot(g, weights, names);
    for (const n of names) expect(changed(before.get(n)!, after.get(n)!), n).toBe(true);
    run.dispose();
  });

  it('LoRA with beta and reused generations: adapters trained, base weights untouched, KL logged', async () => {
    const g = gpu();
    const run = await setup(g, {
      max_steps: 2,
      use_peft: true,
      lora_r: 4,
      lora_alpha: 8,
      lora_dropout: 0,
      beta: 0.04,
      num_iterations: 2,
      gradient_accumulation_steps: 1,
      steps_per_generation: 2,
    });
    const { trainer, weights } = run;
    const base = ['model.layers.0.self_attn.q_proj.weight', 'model.embed_tokens.weight'];
    const before = await snapshot(g, weights, base);
    const lora = trainer.policy.lora!;
    const bBefore = Float32Array.from(await g.read(lora.adapters.values().next().value!.B));
    const first = await trainer.trainStep();
    const second = await trainer.trainStep();
    // Generation every steps_per_generation x num_iterations = 4 micro-steps: only the first step samples.
    expect(first.records).toHaveLength(2);
    expect(second.records).toHaveLength(0);
    for (const r of [first, second]) {
      expect(Number.isFinite(r.metrics.loss)).toBe(true);
      expect(r.logged).toHaveProperty(['kl']);
    }
    // The reused generation is scored against the old log-probs: after one update the ratio moves.
    expect(Number.isFinite(second.logged!.kl!)).toBe(true);
    const after = await snapshot(g, weights, base);
    for (const n of base) expect(changed(before.get(n)!, after.get(n)!), n).toBe(false);
    const bAfter = Float32Array.from(await g.read(lora.adapters.values().next().value!.B));
    expect(changed(bBefore, bAfter)).toBe(true);
    run.dispose();
  });

  it('refuses a prompt over max_prompt_length by name, and trains with it raised', async () => {
    const g = gpu();
    const tight = await setup(g, { max_steps: 1, max_prompt_length: 20 });
    const refused = await tight.trainer.trainStep().catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(GrpoConfigError);
    expect((refused as GrpoConfigError).field).toBe('max_prompt_length');
    expect((refused as Error).message).toMatch(
      /^row synthetic-5-\d+: its prompt is \d+ tokens \([1-9]\d* of them for the image\), more than max_prompt_length 20;/,
    );
    expect((refused as Error).message).toContain('lower max_pixels');
    tight.dispose();
    const roomy = await setup(g, { max_steps: 1, max_prompt_length: 200 });
    expect(Number.isFinite((await roomy.trainer.trainStep()).metrics.loss)).toBe(true);
    roomy.dispose();
  });
});
