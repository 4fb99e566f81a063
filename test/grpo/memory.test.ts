// The memory estimate against what training really holds: the buffer pool's peak of live bytes over a
// second optimiser step (Adam's moments then exist) of nano in Node, for full fine-tuning, a larger
// batch, LoRA with dropout, a KL term with its frozen reference copy, and gradient checkpointing.
import { describe, expect, it } from 'vitest';
import { estimateMemory } from '../../src/grpo/memory.ts';
import { buildTrainingPrompt } from '../../src/grpo/rollout.ts';
import { DEFAULT_PREFILL } from '../../src/model/prompt.ts';
import { setupGpu } from '../helpers.ts';
import { nanoRun } from './nano-run.ts';

const gpu = setupGpu();

const CASES: [string, Record<string, unknown>][] = [
  ['full fine-tuning, 2 prompts x G 4', {}],
  [
    'full fine-tuning, 2 prompts x G 8',
    { num_generations: 8, per_device_train_batch_size: 8, max_completion_length: 32 },
  ],
  [
    'LoRA r 8 with dropout',
    {
      use_peft: true,
      lora_r: 8,
      num_generations: 8,
      per_device_train_batch_size: 8,
      max_completion_length: 32,
    },
  ],
  ['beta 0.04 (a frozen reference copy)', { beta: 0.04, max_completion_length: 32 }],
  [
    'full fine-tuning with gradient checkpointing',
    {
      num_generations: 8,
      per_device_train_batch_size: 8,
      max_completion_length: 32,
      gradient_checkpointing: true,
    },
  ],
  [
    'LoRA with gradient checkpointing',
    {
      use_peft: true,
      lora_r: 8,
      num_generations: 8,
      per_device_train_batch_size: 8,
      max_completion_length: 32,
      gradient_checkpointing: true,
    },
  ],
];

describe('estimateMemory', () => {
  it.each(CASES)('%s: within 15 %% of the measured peak', async (_, overrides) => {
    const g = gpu();
    const run = await nanoRun(g, overrides);
    try {
      const { trainer } = run;
      const setup = trainer.setup;
      const prompts = new Map<string, { tokens: number; patches: number }>();
      for (const row of setup.rows) {
        const p = await buildTrainingPrompt(setup.model, row, {
          systemPrompt: setup.config.system_prompt,
          prefill: setup.config.assistant_prefill ?? DEFAULT_PREFILL,
          minPixels: null,
          maxPixels: null,
        });
        prompts.set(row.id, {
          tokens: p.inputIds.length,
          patches: p.image.grid[0] * p.image.grid[1] * p.image.grid[2],
        });
      }
      await trainer.trainStep();
      g.pool.resetPeak();
      const report = await trainer.trainStep();
      const measured = g.pool.snapshot().peakLiveBytes;
      // The estimate for the step's own sequences: their mean prompt and completion lengths.
      const seen = report.records.map((r) => prompts.get(r.id)!);
      const completions = report.records.flatMap((r) => r.completions.map((x) => x.tokens));
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      const e = estimateMemory(setup.model.config, setup.config, {
        promptTokens: mean(seen.map((p) => p.tokens)),
        imagePatches: Math.max(...seen.map((p) => p.patches)),
        completionTokens: mean(completions),
        weightBytes: 4,
      });
      expect(e.parameters).toBe(1_128_192);
      expect(e.total / measured).toBeGreaterThan(0.85);
      expect(e.total / measured).toBeLessThan(1.15);
    } finally {
      run.dispose();
    }
  });
});
