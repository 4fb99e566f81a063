// Checkpoints: a run saved after one step and restored onto a fresh trainer (same model, data and
// config) takes exactly the second step the original run took: the same samples, loss and weights.
// Also LoRA checkpoints (PEFT adapter files) and the errors for a checkpoint that does not fit the run.
import { describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/context.ts';
import { CheckpointStateError, restoreCheckpoint, saveCheckpoint } from '../../src/grpo/checkpoint.ts';
import { setupGpu } from '../helpers.ts';
import { nanoRun } from './nano-run.ts';

const gpu = setupGpu();
const settings = (extra: Record<string, unknown>) => ({ max_completion_length: 10, max_steps: 2, ...extra });

/** A trainer over 16 rows of seed 9, with a reader of its first parameters. */
async function trainer(g: Gpu, extra: Record<string, unknown>) {
  const run = await nanoRun(g, settings(extra), { seed: 9, rows: 16 });
  const t = run.trainer;
  return {
    t,
    read: async () =>
      Promise.all(t.policy.parameters.slice(0, 6).map(async (p) => Array.from(await g.read(p.tensor)))),
    dispose: run.dispose,
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
      const a = await trainer(g, extra);
      await a.t.trainStep();
      const files = await saveCheckpoint(a.t, { model: 'nano', dataset: 'synthetic:9:16' });
      if (extra === undefined || !('use_peft' in extra))
        expect(Object.keys(files)).toContain('model.safetensors');
      else expect(Object.keys(files)).toContain('adapter_model.safetensors');
      const second = await a.t.trainStep();
      const weights = await a.read();
      a.dispose();

      const b = await trainer(g, extra);
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
    const a = await trainer(g, { max_steps: 1 });
    await a.t.trainStep();
    const files = await saveCheckpoint(a.t, { model: 'nano', dataset: 'synthetic:9:16' });
    a.dispose();
    const b = await trainer(g, { learning_rate: 5e-4 });
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
