// The memory estimate against what training really holds: the buffer pool's peak of live bytes over a
// second optimiser step (Adam's moments then exist) of nano in Node, for full fine-tuning, a larger
// batch, LoRA with dropout, a KL term with its frozen reference copy, and gradient checkpointing; and on a
// mid-size model with random weights.
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NANO_DIR } from '../../src/cli/model-input.ts';
import type { Gpu } from '../../src/gpu/context.ts';
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

/** The estimate for a second step's own sequences against the pool's peak over that step. */
async function estimateOverMeasured(g: Gpu, overrides: Record<string, unknown>, modelDir?: string) {
  const run = await nanoRun(g, overrides, modelDir ? { modelDir } : {});
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
    const completions = report.records.flatMap((r) => r.completions.map((x) => x.tokens ?? 0));
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const e = estimateMemory(setup.model.config, setup.config, {
      promptTokens: mean(seen.map((p) => p.tokens)),
      imagePatches: Math.max(...seen.map((p) => p.patches)),
      completionTokens: mean(completions),
      weightBytes: 4,
    });
    return { e, ratio: e.total / measured };
  } finally {
    run.dispose();
  }
}

describe('estimateMemory', () => {
  it.each(CASES)('%s: within 15 %% of the measured peak', async (_, overrides) => {
    const { e, ratio } = await estimateOverMeasured(gpu(), overrides);
    expect(e.parameters).toBe(1_128_192);
    expect(ratio).toBeGreaterThan(0.85);
    expect(ratio).toBeLessThan(1.15);
  });
});

describe('estimateMemory on a mid-size model', () => {
  // 10x nano's parameters, random weights: hidden 384 over 4 layers (MLP 1536), a 4,096-token vocabulary,
  // a 4-block vision tower; the nano tokenizer and processor.
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'vgrpo-mid-'));
    const config = JSON.parse(readFileSync(join(NANO_DIR, 'config.json'), 'utf8'));
    Object.assign(config, {
      hidden_size: 384,
      num_attention_heads: 6,
      num_key_value_heads: 2,
      intermediate_size: 1536,
      num_hidden_layers: 4,
      vocab_size: 4096,
      rope_scaling: { type: 'mrope', mrope_section: [8, 12, 12] },
    });
    Object.assign(config.vision_config, { depth: 4, embed_dim: 128, hidden_size: 384 });
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
    for (const f of ['tokenizer.json', 'tokenizer_config.json', 'preprocessor_config.json'])
      copyFileSync(join(NANO_DIR, f), join(dir, f));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    ['full fine-tuning', { num_generations: 4, per_device_train_batch_size: 4 }],
    ['LoRA with gradient checkpointing', { use_peft: true, lora_r: 8, gradient_checkpointing: true }],
  ] as [string, Record<string, unknown>][])('%s: within 15 %% of the measured peak', async (_, overrides) => {
    const { e, ratio } = await estimateOverMeasured(gpu(), overrides, dir);
    expect(e.parameters).toBeGreaterThan(10 * 1_128_192);
    expect(ratio).toBeGreaterThan(0.85);
    expect(ratio).toBeLessThan(1.15);
  });
});
