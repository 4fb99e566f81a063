// Checkpoints: a run saved after one step and restored onto a fresh trainer (same model, data and
// config) takes exactly the second step the original run took: the same samples, loss and weights.
// Also LoRA checkpoints (PEFT adapter files) and the errors for a checkpoint that does not fit the run.
import { describe, expect, it } from 'vitest';
import { loadPromptModel, NANO_DIR } from '../../src/cli/model-input.ts';
import { syntheticDataset } from '../../src/data/synthetic.ts';
import type { Gpu } from '../../src/gpu/context.ts';
import { CheckpointStateError, restoreCheckpoint, saveCheckpoint } from '../../src/grpo/checkpoint.ts';
import { type GrpoConfig, resolveConfig } from '../../src/grpo/config.ts';
import { registerReward, rewardNames } from '../../src/grpo/rewards/rewards.ts';
import { GrpoTrainer } from '../../src/grpo/trainer.ts';
import { directoryOpener } from '../../src/model/byte-source-node.ts';
import { loadModel } from '../../src/model/load.ts';
import { stopTokenIds } from '../../src/model/prompt.ts';
import { disposeWeights } from '../../src/model/weights.ts';
import { setupGpu } from '../helpers.ts';

const gpu = setupGpu();
if (!rewardNames().includes('test-length')) registerReward('test-length', (x) => x.completion.length / 100);

function settings(extra: Record<string, unknown>): GrpoConfig {
  return resolveConfig(
    {
      num_generations: 4,
      per_device_train_batch_size: 4,
      gradient_accumulation_steps: 2,
      max_completion_length: 10,
      learning_rate: 1e-3,
      max_steps: 2,
      reward_funcs: ['test-length', 'format'],
      ...extra,
    },
    { preset: 'nano-demo', knownRewards: rewardNames() },
  );
}

async function trainer(g: Gpu, config: GrpoConfig) {
  const model = await loadPromptModel('nano');
  const loaded = await loadModel(g, directoryOpener(NANO_DIR));
  const t = new GrpoTrainer({
    gpu: g,
    model,
    weights: loaded.weights,
    rows: syntheticDataset(9, 16),
    config,
    space: 'pixels',
    stopIds: stopTokenIds(model.tokenizer, model.config.tokens.eosTokenIds),
  });
  return {
    t,
    read: async () =>
      Promise.all(t.policy.parameters.slice(0, 6).map(async (p) => Array.from(await g.read(p.tensor)))),
    dispose: () => {
      t.dispose();
      disposeWeights(loaded.weights);
    },
  };
}

describe('checkpoints', () => {
  for (const [name, extra] of [
    ['full fine-tuning', {}],
    [
      'LoRA with dropout and a reference policy',
      { use_peft: true, lora_r: 4, lora_alpha: 8, lora_dropout: 0.1, beta: 0.04 },
    ],
  ] as const) {
    it(`${name}: resuming from step 1 reproduces step 2`, async () => {
      const g = gpu();
      const config = settings(extra);
      const a = await trainer(g, config);
      await a.t.trainStep();
      const files = await saveCheckpoint(a.t, { model: 'nano', dataset: 'synthetic:9:16' });
      if (extra === undefined || !('use_peft' in extra))
        expect(Object.keys(files)).toContain('model.safetensors');
      else expect(Object.keys(files)).toContain('adapter_model.safetensors');
      const second = await a.t.trainStep();
      const weights = await a.read();
      a.dispose();

      const b = await trainer(g, config);
      const state = await restoreCheckpoint(b.t, async (n) => files[n]);
      expect(state.progress.step).toBe(1);
      const again = await b.t.trainStep();
      expect(again.step).toBe(2);
      expect(again.records.map((r) => r.completions.map((c) => c.text))).toEqual(
        second.records.map((r) => r.completions.map((c) => c.text)),
      );
      expect(again.metrics.loss).toBeCloseTo(second.metrics.loss!, 6);
      const after = await b.read();
      after.forEach((w, i) => {
        const want = weights[i]!;
        const worst = w.reduce((m, v, k) => Math.max(m, Math.abs(v - want[k]!)), 0);
        expect(worst).toBeLessThan(1e-6);
      });
      b.dispose();
    });
  }

  it('a checkpoint of other settings, or a damaged one, is refused with a reason', async () => {
    const g = gpu();
    const a = await trainer(g, settings({ max_steps: 1 }));
    await a.t.trainStep();
    const files = await saveCheckpoint(a.t, { model: 'nano', dataset: 'synthetic:9:16' });
    a.dispose();
    const b = await trainer(g, settings({ learning_rate: 5e-4 }));
    await expect(restoreCheckpoint(b.t, async (n) => files[n])).rejects.toThrow(/learning_rate/);
    await expect(restoreCheckpoint(b.t, async () => undefined)).rejects.toThrow(CheckpointStateError);
    await expect(
      restoreCheckpoint(b.t, async (n) =>
        n === 'trainer_state.json' ? new TextEncoder().encode('{') : files[n],
      ),
    ).rejects.toThrow(/damaged/);
    b.dispose();
  });
});
