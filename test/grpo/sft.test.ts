// The SFT warm-up: reference answers written in the chosen box space and answer form (the prefill's
// <think> not repeated), and a few steps of full fine-tuning on nano that lower the cross-entropy of
// those answers and make the model's own greedy answer start to follow them; gradient checkpointing
// changes no step.
import { describe, expect, it } from 'vitest';
import { loadPromptModel, NANO_DIR } from '../../src/cli/model-input.ts';
import { syntheticDataset } from '../../src/data/synthetic.ts';
import { resolveConfig } from '../../src/grpo/config.ts';
import { parseAnswer, toOriginalPixels } from '../../src/grpo/rewards/answer.ts';
import { buildTrainingPrompt } from '../../src/grpo/rollout.ts';
import { referenceCompletion, SftTrainer } from '../../src/grpo/sft.ts';
import { directoryOpener } from '../../src/model/byte-source-node.ts';
import { loadModel } from '../../src/model/load.ts';
import { DEFAULT_PREFILL } from '../../src/model/prompt.ts';
import { disposeWeights } from '../../src/model/weights.ts';
import { setupGpu } from '../helpers.ts';

const gpu = setupGpu();

describe('SFT reference answers', () => {
  it('continue the prefill in the chosen space and form, with the row reasoning', async () => {
    const model = await loadPromptModel('nano');
    const [row] = syntheticDataset(3, 1);
    const settings = { systemPrompt: null, prefill: DEFAULT_PREFILL, minPixels: null, maxPixels: null };
    const p = await buildTrainingPrompt(model, row!, settings);
    const pixels = referenceCompletion(p, 'pixels', 'list');
    expect(`<think>${pixels}`).toBe(row!.answer);
    const norm = referenceCompletion(p, 'norm1000', 'qwen2vl');
    expect(norm.startsWith('<think>')).toBe(false);
    expect(norm).toContain('<|box_start|>(');
    const parsed = parseAnswer(norm);
    expect(parsed.form).toBe('qwen2vl');
    const back = toOriginalPixels(parsed.box!, 'norm1000', p.frame);
    back.forEach((v, i) => {
      expect(Math.abs(v - row!.box[i]!)).toBeLessThanOrEqual(p.frame.width / 1000);
    });
    const noThinkPrefill = referenceCompletion({ ...p, prefill: 'Answer:' }, 'pixels', 'bbox_2d');
    expect(noThinkPrefill.startsWith('<think>')).toBe(true);
    expect(noThinkPrefill).toContain('{"bbox_2d": [');
  });
});

describe('SFT steps on nano', () => {
  it('lower the cross-entropy of the reference answers', async () => {
    const g = gpu();
    const model = await loadPromptModel('nano');
    const loaded = await loadModel(g, directoryOpener(NANO_DIR));
    const config = resolveConfig(
      {
        per_device_train_batch_size: 4,
        gradient_accumulation_steps: 1,
        num_generations: 4,
        learning_rate: 3e-3,
        max_steps: 12,
      },
      { preset: 'nano-demo' },
    );
    const sft = new SftTrainer(
      {
        gpu: g,
        model,
        weights: loaded.weights,
        rows: syntheticDataset(4, 4),
        config,
        space: 'pixels',
        endOfTurnId: model.config.tokens.eosTokenIds[0]!,
      },
      12,
    );
    const losses: number[] = [];
    for (let i = 0; i < 12; i++) {
      const m = await sft.trainStep();
      expect(Number.isFinite(m.loss)).toBe(true);
      expect(m.num_tokens).toBeGreaterThan(40);
      losses.push(m.loss!);
    }
    // Four rows seen three times each: the loss must fall well below where it started.
    expect(losses.at(-1)!).toBeLessThan(0.6 * losses[0]!);
    sft.dispose();
    disposeWeights(loaded.weights);
  });
});

describe('SFT with gradient checkpointing', () => {
  it('takes the steps it takes without it', async () => {
    const g = gpu();
    const model = await loadPromptModel('nano');
    const run = async (gradient_checkpointing: boolean) => {
      const loaded = await loadModel(g, directoryOpener(NANO_DIR));
      const config = resolveConfig(
        {
          per_device_train_batch_size: 2,
          gradient_accumulation_steps: 2,
          num_generations: 2,
          learning_rate: 1e-3,
        },
        { preset: 'nano-demo' },
      );
      const sft = new SftTrainer(
        {
          gpu: g,
          model,
          weights: loaded.weights,
          rows: syntheticDataset(5, 4),
          config: { ...config, gradient_checkpointing },
          space: 'pixels',
          endOfTurnId: model.config.tokens.eosTokenIds[0]!,
        },
        3,
      );
      const losses = [(await sft.trainStep()).loss!, (await sft.trainStep()).loss!];
      const weight = await g.read(loaded.weights.get('model.layers.1.mlp.down_proj.weight')!);
      sft.dispose();
      disposeWeights(loaded.weights);
      return { losses, weight };
    };
    const plain = await run(false);
    const recomputed = await run(true);
    // The second step's loss depends on the first step's update, so equal losses mean equal gradients.
    recomputed.losses.forEach((l, i) => {
      expect(l).toBeCloseTo(plain.losses[i]!, 5);
    });
    let worst = 0;
    plain.weight.forEach((v, i) => {
      worst = Math.max(worst, Math.abs(v - recomputed.weight[i]!));
    });
    expect(worst).toBeLessThan(1e-5);
  });
});
